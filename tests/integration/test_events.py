"""The events trail: every change leaves its event, committed with the change."""

from __future__ import annotations

import base64
import json

from service.state import DRAFT_EXPIRY, POLLER


async def _events(api, tenant, order_id):
    status, page = await api.call(tenant, "GET", f"/api/orders/{order_id}/events?pageSize=200")
    assert status == 200
    assert page["nextCursor"] is None
    return page["items"]


def _summary(events):
    return [(e["type"], e["actor"]["type"], e["actor"]["clientId"]) for e in events]


async def _run_until(api, order_id, tenant, final="Completed"):
    poller = api.client.server.app[POLLER]
    for _ in range(20):
        await poller.run_once()
        status, order = await api.call(tenant, "GET", f"/api/orders/{order_id}")
        if order["status"] == final:
            return order
    raise AssertionError(order)


async def test_every_change_of_an_order_leaves_its_event_with_who_made_it(api):
    clerk = await api.tenant()
    await api.call(clerk, "PUT", "/api/settings", {"approvalRequired": True})
    approver = await api.colleague(clerk, ["orders:read", "orders:approve"])
    await api.admin(
        "POST", f"/admin/resellers/{clerk.reseller_id}/customfields", {"name": "po", "label": "PO", "type": "text"}, expect=201
    )
    product = await api.product(characteristics=[{"name": "domain", "label": "Domain", "type": "text"}])
    order = await api.draft(clerk, clerk.customer_id)
    o = order["id"]
    kept = await api.item(clerk, o, product)
    dropped = await api.item(clerk, o, product)
    assert (await api.call(clerk, "DELETE", f"/api/orders/{o}/items/{dropped['id']}"))[0] == 204
    await api.call(clerk, "PUT", f"/api/orders/{o}/customfields", [{"name": "po", "value": "PO-1"}])
    await api.call(clerk, "PUT", f"/api/orders/{o}/items/{kept['id']}/characteristics", [{"name": "domain", "value": "a.example"}])
    assert (await api.call(clerk, "POST", f"/api/orders/{o}/checkout"))[0] == 202
    assert (await api.call(approver, "POST", f"/api/orders/{o}/approve"))[0] == 202
    await _run_until(api, o, clerk)

    c, a = clerk.client_id, approver.client_id
    events = await _events(api, approver, o)
    assert _summary(events) == [
        ("order.created", "client", c),
        ("order.item_added", "client", c),
        ("order.item_added", "client", c),
        ("order.item_removed", "client", c),
        ("order.values_changed", "client", c),
        ("order.values_changed", "client", c),
        ("order.checked_out", "client", c),
        ("order.status_changed", "client", c),
        ("order.approval_requested", "client", c),
        ("order.approved", "client", a),
        ("order.status_changed", "client", a),
        ("item.status_changed", "system", None),
        ("order.status_changed", "system", None),
        ("item.status_changed", "system", None),
        ("subscription.created", "system", None),
        ("order.status_changed", "system", None),
    ]
    data = [e["data"] for e in events]
    assert data[1] == {"itemId": kept["id"]} and data[3] == {"itemId": dropped["id"]}
    assert data[4] == {"customFields": ["po"]}
    assert data[5] == {"itemId": kept["id"], "characteristics": ["domain"]}
    assert data[7] == {"from": "Draft", "to": "Reseller Pending Approval"}
    assert data[10] == {"from": "Reseller Pending Approval", "to": "Pending"}
    assert data[11] == {
        "itemId": kept["id"],
        "from": "Pending",
        "to": "In Progress",
        "message": None,
        "subscriptionId": None,
    }
    assert data[12] == {"from": "Pending", "to": "In Progress"}
    _, item = await api.call(clerk, "GET", f"/api/orders/{o}/items/{kept['id']}")
    assert data[13] == {
        "itemId": kept["id"],
        "from": "In Progress",
        "to": "Completed",
        "message": None,
        "subscriptionId": item["subscriptionId"],
    }
    assert data[14] == {
        "subscriptionId": item["subscriptionId"],
        "itemId": kept["id"],
        "productId": product["id"],
        "quantity": kept["quantity"],
    }
    assert data[15] == {"from": "In Progress", "to": "Completed"}
    assert all(e["orderId"] == o and e["accountId"] == clerk.customer_id for e in events)
    assert len({e["id"] for e in events}) == len(events) and all(e["id"].startswith("evt_") for e in events)
    stamps = [e["occurredAt"] for e in events]
    assert stamps == sorted(stamps)


async def test_a_cancellation_records_its_reason(api):
    clerk = await api.tenant()
    await api.call(clerk, "PUT", "/api/settings", {"approvalRequired": True})
    order = await api.draft(clerk)
    await api.item(clerk, order["id"], await api.product())
    await api.call(clerk, "POST", f"/api/orders/{order['id']}/checkout")
    await api.call(clerk, "POST", f"/api/orders/{order['id']}/cancel", {"reason": "budget"})
    events = await _events(api, clerk, order["id"])
    assert [(e["type"], e["data"]) for e in events[-2:]] == [
        ("order.cancelled", {"reason": "budget"}),
        ("order.status_changed", {"from": "Reseller Pending Approval", "to": "Cancelled by Reseller"}),
    ]


async def test_a_refused_change_leaves_no_event(api, conn):
    tenant = await api.tenant()
    product = await api.product(currency="USD")
    order = await api.draft(tenant)
    before = await conn.fetchval("SELECT count(*) FROM order_events")
    o = order["id"]
    for method, path, body, status in (
        ("POST", f"/api/orders/{o}/checkout", None, 422),  # no items
        ("POST", f"/api/orders/{o}/items", {"productId": product["id"], "quantity": 0, "billingCycle": "Monthly"}, 422),
        ("PUT", f"/api/orders/{o}/customfields", [{"name": "nope", "value": 1}], 422),
        ("POST", f"/api/orders/{o}/approve", None, 409),
        ("POST", "/api/orders", {"accountId": 987654}, 422),
    ):
        assert (await api.call(tenant, method, path, body))[0] == status, path
    assert await conn.fetchval("SELECT count(*) FROM order_events") == before


async def test_an_expired_draft_leaves_order_expired_in_the_feed(api, conn):
    tenant = await api.tenant()
    order = await api.draft(tenant)
    await conn.execute(
        "UPDATE orders SET order_date = current_date - 10, expiration_date = current_date - 3 WHERE id = $1",
        order["id"],
    )
    assert (await api.call(tenant, "GET", f"/api/orders/{order['id']}/events"))[0] == 404
    assert await api.client.server.app[DRAFT_EXPIRY].run_once() == 1
    assert await conn.fetchval("SELECT count(*) FROM orders") == 0
    status, feed = await api.call(tenant, "GET", f"/api/events?orderId={order['id']}")
    assert [(e["type"], e["actor"]["type"]) for e in feed["items"]] == [
        ("order.created", "client"),
        ("order.expired", "system"),
    ]
    expired = feed["items"][-1]
    assert expired["accountId"] == tenant.account_id
    assert expired["data"] == {"expirationDate": str(await conn.fetchval("SELECT current_date - 3"))}


async def test_the_feed_cursor_is_never_null_and_an_empty_page_keeps_it(api):
    tenant = await api.tenant()
    status, first = await api.call(tenant, "GET", "/api/events")
    assert (status, first["items"]) == (200, [])
    assert first["nextCursor"]
    orders = [await api.draft(tenant) for _ in range(5)]
    seen, cursor = [], first["nextCursor"]
    for _ in range(10):
        status, page = await api.call(tenant, "GET", f"/api/events?pageSize=2&cursor={cursor}")
        assert status == 200 and page["nextCursor"]
        seen += [e["orderId"] for e in page["items"]]
        if not page["items"]:
            assert page["nextCursor"] == cursor
        cursor = page["nextCursor"]
    assert seen == [o["id"] for o in orders]
    status, again = await api.call(tenant, "GET", f"/api/events?cursor={cursor}")
    assert (again["items"], again["nextCursor"]) == ([], cursor)
    # New events appear after the kept cursor.
    late = await api.draft(tenant)
    status, page = await api.call(tenant, "GET", f"/api/events?cursor={cursor}")
    assert [e["orderId"] for e in page["items"]] == [late["id"]]


async def test_the_feed_filters_and_refuses_bad_cursors(api):
    tenant = await api.tenant()
    product = await api.product()
    first, second = await api.draft(tenant), await api.draft(tenant)
    await api.item(tenant, second["id"], product)
    status, page = await api.call(tenant, "GET", f"/api/events?orderId={second['id']}")
    assert [e["type"] for e in page["items"]] == ["order.created", "order.item_added"]
    status, page = await api.call(tenant, "GET", "/api/events?type=order.created")
    assert [e["orderId"] for e in page["items"]] == [first["id"], second["id"]]
    forged = base64.urlsafe_b64encode(json.dumps(["feed", -1, 5]).encode()).decode().rstrip("=")
    for query in ("cursor=nonsense", f"cursor={forged}", "type=order.deleted", "orderId=0", "pageSize=0"):
        status, problem = await api.call(tenant, "GET", f"/api/events?{query}")
        assert (status, problem["code"]) == (422, "validation_error"), query
        assert problem["errors"][0]["code"] in ("invalid_cursor", "invalid_event_type", "invalid"), query
    # A cursor of another list is not a feed cursor.
    status, items = await api.call(tenant, "GET", f"/api/orders/{second['id']}/items?pageSize=1")
    status, orders = await api.call(tenant, "GET", "/api/orders?stage=All&pageSize=1")
    status, problem = await api.call(tenant, "GET", f"/api/events?cursor={orders['nextCursor']}")
    assert (status, problem["errors"][0]["code"]) == (422, "invalid_cursor")


async def test_an_order_events_list_pages(api):
    tenant = await api.tenant()
    product = await api.product()
    order = await api.draft(tenant)
    for _ in range(4):
        await api.item(tenant, order["id"], product)
    types, cursor = [], ""
    while True:
        status, page = await api.call(tenant, "GET", f"/api/orders/{order['id']}/events?pageSize=2&cursor={cursor}")
        assert status == 200, page
        types += [e["type"] for e in page["items"]]
        if page["nextCursor"] is None:
            break
        cursor = page["nextCursor"]
    assert types == ["order.created"] + ["order.item_added"] * 4


async def test_events_are_kept_for_the_retention_and_purged_after(api, conn, pool):
    from service.db import Database
    from service.execution.expiry import EventRetention
    from tests.execution_support import QUERIES

    tenant = await api.tenant()
    old, recent = await api.draft(tenant), await api.draft(tenant)
    await conn.execute("UPDATE order_events SET occurred_at = now() - interval '31 days' WHERE order_id = $1", old["id"])
    await conn.execute("UPDATE order_events SET occurred_at = now() - interval '29 days' WHERE order_id = $1", recent["id"])
    retention = EventRetention(db=Database(pool=pool, queries=QUERIES), batch_size=1, args=(30,))
    assert await retention.run_once() == 1
    assert await conn.fetchval("SELECT array_agg(order_id) FROM order_events") == [recent["id"]]
    assert await retention.run_once() == 0
