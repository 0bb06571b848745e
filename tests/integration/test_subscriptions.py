"""Subscriptions: what a completed purchase becomes, read through the API."""

from __future__ import annotations

import datetime

import pytest

from service.schemas import orders, subscriptions
from tests.plans import custom_and_generic, plan_nodes
from tests.subscription_support import bought, checked_out, executed


def conforms(schema, body) -> dict:
    assert schema.validate(body) == {}
    return body


def _recent(stamp: str) -> bool:
    moment = datetime.datetime.fromisoformat(stamp)
    return abs(datetime.datetime.now(datetime.UTC) - moment) < datetime.timedelta(minutes=5)


async def test_a_completed_purchase_becomes_a_subscription_the_item_names(api, simulator):
    url, _ = await simulator()
    tenant = await api.tenant()
    instant = await api.product(sku="MAIL-50", name="Mailbox 50 GB")
    remote = await api.product(fulfillment={"type": "http", "url": url}, unitPrices={"Monthly": "9.99", "Annually": "99.00"})
    order = await api.draft(tenant, tenant.customer_id)
    mail = await api.item(tenant, order["id"], instant, quantity=5, billingCycle="Annually")
    vm = await api.item(tenant, order["id"], remote, quantity=1)
    assert (mail["action"], mail["subscriptionId"]) == ("purchase", None)
    await checked_out(api, tenant, order["id"])
    assert (await executed(api, tenant, order["id"]))["status"] == "Completed"

    status, progress = await api.call(tenant, "GET", f"/api/orders/{order['id']}/execute/status")
    named = {entry["itemId"]: entry["subscriptionId"] for entry in progress["items"]}
    status, page = await api.call(tenant, "GET", "/api/subscriptions")
    assert status == 200 and page["nextCursor"] is None
    by_item = {s["itemId"]: conforms(subscriptions.Subscription(), s) for s in page["items"]}
    assert set(by_item) == {mail["id"], vm["id"]}
    first = by_item[mail["id"]]
    assert {k: v for k, v in first.items() if k not in ("id", "createdAt", "updatedAt")} == {
        "accountId": tenant.customer_id,
        "accountName": "Acme Cloud customer",
        "productId": instant["id"],
        "sku": "MAIL-50",
        "productName": "Mailbox 50 GB",
        "quantity": 5,
        "billingCycle": "Annually",
        "unitPrice": "120.00",
        "currency": "EUR",
        "status": "Active",
        "externalId": f"sub-{mail['id']}",  # the instant connector's own id
        "orderId": order["id"],
        "itemId": mail["id"],
        "cancelledAt": None,
    }
    assert _recent(first["createdAt"]) and first["updatedAt"] == first["createdAt"]
    assert by_item[vm["id"]]["externalId"] == f"sim-sub-{vm['id']}"  # the http connector's
    assert by_item[vm["id"]]["unitPrice"] == "9.99"
    for item in (mail, vm):
        subscription = by_item[item["id"]]
        # The item and its execution entry name our id, as a string.
        status, shown = await api.call(tenant, "GET", f"/api/orders/{order['id']}/items/{item['id']}")
        assert shown["subscriptionId"] == named[item["id"]] == str(subscription["id"])
        assert (shown["action"], shown["status"]) == ("purchase", "Completed")
        conforms(orders.Item(), shown)
        response = await api.client.get(f"/api/subscriptions/{subscription['id']}", headers=tenant.headers)
        assert response.status == 200 and await response.json() == subscription
        again = await api.client.get(
            f"/api/subscriptions/{subscription['id']}",
            headers={**tenant.headers, "If-None-Match": response.headers["ETag"]},
        )
        assert again.status == 304


async def test_a_failed_purchase_makes_no_subscription(api, simulator):
    url, _ = await simulator(failure_rate=1.0)
    tenant = await api.tenant()
    remote = await api.product(fulfillment={"type": "http", "url": url})
    order = await api.draft(tenant)
    item = await api.item(tenant, order["id"], remote)
    await checked_out(api, tenant, order["id"])
    assert (await executed(api, tenant, order["id"]))["status"] == "Failed"
    _, shown = await api.call(tenant, "GET", f"/api/orders/{order['id']}/items/{item['id']}")
    assert (shown["status"], shown["subscriptionId"]) == ("Failed", None)
    assert (await api.call(tenant, "GET", "/api/subscriptions"))[1]["items"] == []
    _, feed = await api.call(tenant, "GET", "/api/events?type=subscription.created")
    assert feed["items"] == []


async def test_the_list_is_newest_first_filters_and_pages(api):
    tenant = await api.tenant()
    mail, backup = await api.product(), await api.product()
    made = [
        await bought(api, tenant, mail, account_id=tenant.customer_id),
        await bought(api, tenant, backup, account_id=tenant.customer_id),
        await bought(api, tenant, mail, account_id=tenant.account_id),
        await bought(api, tenant, backup, account_id=tenant.account_id),
        await bought(api, tenant, mail, account_id=tenant.customer_id),
    ]
    ids = [s["id"] for s in made]
    assert ids == sorted(ids)

    async def listed(query: str) -> list[int]:
        found, cursor = [], None
        while True:
            path = f"/api/subscriptions?pageSize=2&{query}" + (f"&cursor={cursor}" if cursor else "")
            status, page = await api.call(tenant, "GET", path)
            assert status == 200, page
            assert len(page["items"]) <= 2
            found += [s["id"] for s in page["items"]]
            cursor = page["nextCursor"]
            if cursor is None:
                return found

    assert await listed("") == ids[::-1]
    assert await listed(f"accountId={tenant.customer_id}") == [ids[4], ids[1], ids[0]]
    assert await listed(f"productId={mail['id']}") == [ids[4], ids[2], ids[0]]
    assert await listed(f"accountId={tenant.account_id}&productId={backup['id']}") == [ids[3]]
    assert await listed("status=Active") == ids[::-1]
    assert await listed("status=Cancelled") == []
    for query, field in (
        ("pageSize=0", "pageSize"),
        ("accountId=x", "accountId"),
        ("productId=-1", "productId"),
        ("cursor=bogus", "cursor"),
    ):
        status, problem = await api.call(tenant, "GET", f"/api/subscriptions?{query}")
        assert (status, problem["code"], problem["errors"][0]["field"]) == (422, "validation_error", field)
    # A cursor of another list is not one of this list's.
    status, orders_page = await api.call(tenant, "GET", "/api/orders?stage=All&pageSize=1")
    status, problem = await api.call(tenant, "GET", f"/api/subscriptions?cursor={orders_page['nextCursor']}")
    assert (status, problem["errors"][0]["code"]) == (422, "invalid_cursor")


async def test_another_resellers_subscription_is_missing_and_free_may_read(api):
    owner = await api.tenant(name="Owner")
    intruder = await api.tenant(name="Intruder", edition="Free")
    owned = await bought(api, owner, await api.product())
    theirs = await api.call(intruder, "GET", f"/api/subscriptions/{owned['id']}")
    missing = await api.call(intruder, "GET", "/api/subscriptions/987654321")
    assert theirs[0] == missing[0] == 404
    assert {k: v for k, v in theirs[1].items() if k != "requestId"} == {
        k: v for k, v in missing[1].items() if k != "requestId"
    }
    for query in ("", f"?accountId={owner.customer_id}", f"?productId={owned['productId']}"):
        status, page = await api.call(intruder, "GET", f"/api/subscriptions{query}")
        assert (status, page["items"]) == (200, []), query
    # The Free edition may read what it owns (it bought it while Standard).
    await api.admin("PATCH", f"/admin/resellers/{owner.reseller_id}", {"edition": "Free"}, expect=200)
    reader = await api.colleague(owner, ["orders:read"])
    assert await api.call(reader, "GET", f"/api/subscriptions/{owned['id']}") == (200, owned)
    status, page = await api.call(reader, "GET", "/api/subscriptions")
    assert (status, [s["id"] for s in page["items"]]) == (200, [owned["id"]])


@pytest.mark.parametrize(
    ("query", "extra", "index"),
    [
        ("subscriptions_page", (), {"subscriptions_reseller_page_idx"}),
        ("subscriptions_page_product", ("product",), {"subscriptions_product_page_idx"}),
        # Half the tenant's subscriptions are this account's: either index serves the page.
        ("subscriptions_page_account", ("account", None),
         {"subscriptions_account_page_idx", "subscriptions_reseller_page_idx"}),
    ],
)
async def test_a_deep_page_walks_an_index_without_sorting(api, conn, query, extra, index):
    """Pages stay fast with many subscriptions: the order comes from an index, no sort, no scan
    of the tenant, and the keyset position is where the walk starts (an Index Cond), with the
    values given and with the generic plan a cached statement uses."""
    from service import db

    # Five tenants' subscriptions interleaved, as ids come in a shared table: walking the
    # primary key would pass four others' rows for each of this tenant's.
    tenants = [await api.tenant(name=f"T{n}") for n in range(5)]
    tenant = tenants[0]
    products = [(await api.product())["id"] for _ in range(3)]
    await conn.execute(
        """INSERT INTO subscriptions (reseller_id, account_id, product_id, sku, product_name, quantity,
                                      billing_cycle, unit_price, currency, order_id, item_id, created_at)
           SELECT ($1::bigint[])[1 + g % 5],
                  CASE WHEN g / 5 % 2 = 0 THEN ($2::bigint[])[1 + g % 5] ELSE ($3::bigint[])[1 + g % 5] END,
                  ($4::bigint[])[1 + g / 5 % 3], 'SKU', 'Product', 1, 'Monthly', 1.00, 'EUR', g, g,
                  now() - make_interval(secs => 60000 - g)
           FROM generate_series(1, 60000) g""",
        [t.reseller_id for t in tenants],
        [t.account_id for t in tenants],
        [t.customer_id for t in tenants],
        products,
    )
    await conn.execute("ANALYZE subscriptions")
    sql = db.load_queries(db.sql_dir() / "queries")[query]
    values = {"product": products[1], "account": tenant.customer_id, None: None}
    middle = await conn.fetchval("SELECT created_at FROM subscriptions WHERE id = 30000")
    args = [tenant.reseller_id, None, middle, 30000, 51, *(values[name] for name in extra)]
    custom, generic = await custom_and_generic(conn, sql, args)
    assert "$4" in str(generic) and "$4" not in str(custom)
    # The account's statement is always planned for its values (Database.fetch_planned).
    for plan in (custom,) if "account" in extra else (custom, generic):
        text = str(plan)
        assert any(name in text for name in index), text
        nodes = plan_nodes(plan)
        assert not {"Sort", "Seq Scan"} & {n["Node Type"] for n in nodes}, text
        scans = [n for n in nodes if n.get("Index Name", "").startswith("subscriptions_")]
        assert scans and "created_at" in scans[0].get("Index Cond", ""), text

