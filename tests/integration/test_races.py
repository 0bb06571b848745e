"""Concurrency claims, proven by racing real requests."""

import asyncio


async def test_sixteen_concurrent_checkouts_have_exactly_one_winner(api, conn):
    tenant = await api.tenant()
    product = await api.product()
    order = await api.draft(tenant)
    for _ in range(3):
        await api.item(tenant, order["id"], product)
    results = await asyncio.gather(
        *(api.call(tenant, "POST", f"/api/orders/{order['id']}/checkout") for _ in range(16))
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [202] + [409] * 15
    assert {body["code"] for status, body in results if status == 409} == {"order_not_draft"}
    assert await conn.fetchval("SELECT count(*) FROM executions WHERE order_id = $1", order["id"]) == 3


async def test_items_added_while_checkout_commits_are_never_orphaned(api, conn):
    """Each add either lands before checkout (and is executed) or gets 409."""
    tenant = await api.tenant()
    product = await api.product()
    body = {"productId": product["id"], "quantity": 1, "billingCycle": "Monthly"}
    outcomes = {201: 0, 409: 0}
    for _ in range(8):
        order = await api.draft(tenant)
        await api.item(tenant, order["id"], product)
        path = f"/api/orders/{order['id']}/items"
        adds = [api.call(tenant, "POST", path, body) for _ in range(6)]
        checkout = api.call(tenant, "POST", f"/api/orders/{order['id']}/checkout")
        results = await asyncio.gather(*adds[:3], checkout, *adds[3:])
        assert results[3][0] == 202
        added = {item["id"] for status, item in results[:3] + results[4:] if status == 201}
        for status, _ in results[:3] + results[4:]:
            assert status in (201, 409)
            outcomes[status] += 1
        rows = await conn.fetch(
            "SELECT i.id, e.item_id IS NOT NULL AS executed FROM order_items i "
            "LEFT JOIN executions e ON e.item_id = i.id WHERE i.order_id = $1",
            order["id"],
        )
        assert all(row["executed"] for row in rows), "an item was added after checkout"
        assert added <= {row["id"] for row in rows}
        count, total = await conn.fetchrow("SELECT item_count, total FROM orders WHERE id = $1", order["id"])
        assert count == len(rows) == len(added) + 1
        assert total == 25 + 12.5 * len(added)  # the first item has quantity 2
    assert outcomes[201] + outcomes[409] == 48


async def test_concurrent_deletes_of_one_item_delete_it_once(api, conn):
    tenant = await api.tenant()
    product = await api.product()
    order = await api.draft(tenant)
    keep = await api.item(tenant, order["id"], product)
    gone = await api.item(tenant, order["id"], product)
    results = await asyncio.gather(
        *(api.call(tenant, "DELETE", f"/api/orders/{order['id']}/items/{gone['id']}") for _ in range(8))
    )
    assert sorted(status for status, _ in results) == [204] + [404] * 7
    status, fresh = await api.call(tenant, "GET", f"/api/orders/{order['id']}")
    assert (fresh["itemCount"], fresh["total"]) == (1, keep["totalPrice"])
