"""Keyset pages and the visibility of expired drafts."""

import datetime

import pytest

from tests.plans import custom_and_generic, plan_nodes


async def _all_pages(api, tenant, query, size):
    ids, cursor, pages = [], None, 0
    while True:
        url = f"/api/orders?{query}&pageSize={size}" + (f"&cursor={cursor}" if cursor else "")
        status, page = await api.call(tenant, "GET", url)
        assert status == 200, page
        ids += [o["id"] for o in page["items"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            return ids, pages


async def test_pages_are_newest_first_and_complete(api, conn):
    tenant = await api.tenant()
    later = (datetime.date.today() + datetime.timedelta(days=3)).isoformat()
    created = [await api.draft(tenant) for _ in range(5)]
    status, future = await api.call(
        tenant, "POST", "/api/orders", {"accountId": tenant.customer_id, "orderDate": later}
    )
    ids, pages = await _all_pages(api, tenant, "stage=Draft", 2)
    assert ids == [future["id"]] + [o["id"] for o in reversed(created)]
    assert pages == 3


async def test_pages_are_stable_under_concurrent_inserts(api):
    tenant = await api.tenant()
    created = [await api.draft(tenant) for _ in range(6)]
    status, first = await api.call(tenant, "GET", "/api/orders?stage=All&pageSize=3")
    for _ in range(4):
        await api.draft(tenant)  # newer rows arrive between page fetches
    status, second = await api.call(
        tenant, "GET", f"/api/orders?stage=All&pageSize=3&cursor={first['nextCursor']}"
    )
    seen = [o["id"] for o in first["items"] + second["items"]]
    assert seen == [o["id"] for o in reversed(created)]
    assert second["nextCursor"] is None


async def test_filters_and_stages(api, conn):
    tenant = await api.tenant()
    product = await api.product()
    own = await api.draft(tenant)
    customer = await api.draft(tenant, tenant.customer_id)
    confirmed = await api.draft(tenant, tenant.customer_id)
    await api.item(tenant, confirmed["id"], product)
    await api.call(tenant, "POST", f"/api/orders/{confirmed['id']}/checkout")
    cancelled = await api.draft(tenant)
    await conn.execute("UPDATE orders SET status = 'Cancelled by Reseller' WHERE id = $1", cancelled["id"])

    async def ids(query):
        status, page = await api.call(tenant, "GET", f"/api/orders?{query}")
        assert status == 200, page
        return {o["id"] for o in page["items"]}

    assert await ids("") == {confirmed["id"]}  # Confirmed is the default
    assert await ids("stage=CONFIRMED") == {confirmed["id"]}
    assert await ids("stage=draft") == {own["id"], customer["id"]}
    assert await ids("stage=All") == {own["id"], customer["id"], confirmed["id"], cancelled["id"]}
    assert await ids(f"stage=All&accountId={tenant.customer_id}") == {customer["id"], confirmed["id"]}
    assert await ids("stage=All&status=Pending") == {confirmed["id"]}
    today = datetime.date.today()
    assert await ids(f"stage=All&fromDate={today + datetime.timedelta(days=1)}") == set()
    assert len(await ids(f"stage=All&fromDate={today}&toDate={today}")) == 4


@pytest.fixture
async def expired(api, conn):
    tenant = await api.tenant()
    product = await api.product()
    order = await api.draft(tenant)
    item = await api.item(tenant, order["id"], product)
    fresh = await api.draft(tenant)
    # Pretend the draft was made 8 days ago: it expired yesterday.
    await conn.execute(
        "UPDATE orders SET order_date = current_date - 8, expiration_date = current_date - 1 WHERE id = $1",
        order["id"],
    )
    await conn.execute("UPDATE orders SET expiration_date = current_date WHERE id = $1", fresh["id"])
    return tenant, product, order, item, fresh


async def test_an_expired_draft_is_404_everywhere_before_the_job_runs(api, expired):
    tenant, product, order, item, fresh = expired
    o, i = order["id"], item["id"]
    for method, path, body in [
        ("GET", f"/api/orders/{o}", None),
        ("GET", f"/api/orders/{o}/items", None),
        ("GET", f"/api/orders/{o}/items/{i}", None),
        (
            "POST",
            f"/api/orders/{o}/items",
            {"productId": product["id"], "quantity": 1, "billingCycle": "Monthly"},
        ),
        ("DELETE", f"/api/orders/{o}/items/{i}", None),
        ("POST", f"/api/orders/{o}/checkout", None),
        ("GET", f"/api/orders/{o}/execute/status", None),
        ("GET", f"/api/orders/{o}/customfields", None),
        ("PUT", f"/api/orders/{o}/customfields", []),
        ("GET", f"/api/orders/{o}/items/{i}/characteristics", None),
        ("PUT", f"/api/orders/{o}/items/{i}/characteristics", []),
    ]:
        status, problem = await api.call(tenant, method, path, body)
        assert (status, problem["code"]) == (404, "not_found"), (method, path)
    status, page = await api.call(tenant, "GET", "/api/orders?stage=All")
    assert [x["id"] for x in page["items"]] == [fresh["id"]]  # expiring today is still valid today
    assert (await api.call(tenant, "GET", f"/api/orders/{fresh['id']}"))[0] == 200


@pytest.mark.parametrize(
    ("query", "stage", "account", "index"),
    [
        ("orders_page", "all", False, {"orders_reseller_page_idx"}),
        ("orders_page", "confirmed", False, {"orders_reseller_page_idx"}),
        ("orders_page_drafts", "draft", False, {"orders_draft_page_idx"}),
        # Half the tenant's orders are this account's: either index serves the page.
        ("orders_page_account", "all", True, {"orders_account_page_idx", "orders_reseller_page_idx"}),
        ("orders_page_account", "draft", True, {"orders_account_page_idx", "orders_draft_page_idx"}),
    ],
)
async def test_a_deep_page_walks_an_index_without_sorting(api, conn, query, stage, account, index):
    """Pages stay fast with many orders: the order comes from an index, no sort, no scan of
    the tenant, and the keyset position is where the index walk starts (an Index Cond, not a
    Filter), with the values given and with the one generic plan a cached statement uses."""
    from service import db

    tenant = await api.tenant()
    await conn.execute(
        """INSERT INTO orders (reseller_id, account_id, status, order_date, expiration_date)
           SELECT $1::bigint, CASE WHEN g % 2 = 0 THEN $2::bigint ELSE $3::bigint END,
                  CASE WHEN g % 3 = 0 THEN 'Draft' ELSE 'Completed' END,
                  current_date - (g % 300), CASE WHEN g % 3 = 0 THEN current_date + 7 END
           FROM generate_series(1, 30000) g""",
        tenant.reseller_id,
        tenant.account_id,
        tenant.customer_id,
    )
    await conn.execute("ANALYZE orders")
    sql = db.load_queries(db.sql_dir() / "queries")[query]
    args = [tenant.reseller_id, stage, None, None, None, datetime.date.today() - datetime.timedelta(days=150), 10**9, 51]
    if account:
        args.append(tenant.customer_id)
    custom, generic = await custom_and_generic(conn, sql, args)
    assert "$6" in str(generic) and "$6" not in str(custom)  # the generic plan is not made for the values
    # The account's query is always planned for its values (Database.fetch_planned).
    for plan in (custom,) if account else (custom, generic):
        text = str(plan)
        assert any(name in text for name in index), text
        nodes = _node_types(plan)
        assert "Sort" not in nodes and "Seq Scan" not in nodes, text
        scan = _index_scans(plan)
        assert scan and "order_date" in scan[0].get("Index Cond", ""), text


def _node_types(plan) -> set[str]:
    return {node.get("Node Type") for node in plan_nodes(plan)}


def _index_scans(plan) -> list[dict]:
    return [
        node
        for node in plan_nodes(plan)
        if node["Node Type"] in ("Index Scan", "Index Scan Backward") and "orders_" in node.get("Index Name", "")
    ]
