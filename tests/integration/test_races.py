"""Concurrency claims, proven by racing real requests."""

import asyncio
import json
from decimal import Decimal

import asyncpg

from service import db
from tests.locks import order_held, waiting_for_locks

QUERIES = db.load_queries(db.sql_dir() / "queries")


async def _add_under_lock(holder, order_id: int, reseller_id: int, product: dict) -> int:
    """An item added, with the service's own item_add, by the test's transaction
    that holds the order's lock: a concurrent add as the service makes it."""
    row = await holder.fetchrow(
        QUERIES["item_add"], order_id, reseller_id, product["id"], product["sku"], product["name"], 1,
        "Monthly", Decimal("12.50"), "EUR", "{}", "holder", "purchase", None,
    )
    return row["id"]


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


async def test_an_item_added_while_checkout_waits_for_the_order_is_checked_too(api, conn, dsn):
    """An item that lacks a required characteristic, added while the checkout
    waits for the order: its one statement finds the order's row changed since
    its snapshot and matches nothing, and the locked path, which reads the
    items once the lock is held, sees the item and refuses the checkout."""
    tenant = await api.tenant()
    plain = await api.product()
    needs_domain = await api.product(
        characteristics=[{"name": "domain", "label": "Domain", "type": "text", "required": True}]
    )
    order = await api.draft(tenant)
    await api.item(tenant, order["id"], plain)
    async with order_held(dsn, order["id"]) as holder:
        checkout = asyncio.ensure_future(api.call(tenant, "POST", f"/api/orders/{order['id']}/checkout"))
        await waiting_for_locks(conn, 1)
        late = await _add_under_lock(holder, order["id"], tenant.reseller_id, needs_domain)
    status, body = await checkout
    assert status == 422, body
    assert body["code"] == "required_values_missing"
    assert [e["field"] for e in body["errors"]] == [f"items[{late}].characteristics.domain"]
    assert await conn.fetchval("SELECT status FROM orders WHERE id = $1", order["id"]) == "Draft"


async def test_the_control_a_subquery_of_the_locking_statement_misses_that_item(api, conn, dsn):
    """Why the checkout's read is a VOLATILE function called after the lock: the
    same read as a subquery of the locking statement uses the snapshot taken
    before the wait and misses the item, where order_lock_for_checkout sees it."""
    tenant = await api.tenant()
    product = await api.product()
    order = await api.draft(tenant)
    await api.item(tenant, order["id"], product)
    naive = (
        "SELECT (SELECT count(*) FROM order_items i WHERE i.order_id = o.id) AS items"
        " FROM orders o WHERE o.id = $1 AND o.reseller_id = $2 FOR UPDATE OF o"
    )
    seen = {}
    for name, query in (("naive", naive), ("order_lock_for_checkout", QUERIES["order_lock_for_checkout"])):
        before = await conn.fetchval("SELECT count(*) FROM order_items WHERE order_id = $1", order["id"])
        reader = await asyncpg.connect(dsn, **db.connect_kwargs())
        try:
            async with order_held(dsn, order["id"]) as holder:
                read = asyncio.ensure_future(reader.fetchrow(query, order["id"], tenant.reseller_id))
                await waiting_for_locks(conn, 1)
                await _add_under_lock(holder, order["id"], tenant.reseller_id, product)
            items = (await read)["items"]
        finally:
            await reader.close()
        seen[name] = (items if isinstance(items, int) else len(json.loads(items))) - before
    assert seen == {"naive": 0, "order_lock_for_checkout": 1}


async def _checkout_while_a_required_value_is_cleared(api, conn, dsn, clear: str, *extra):
    """A checkout sent while another transaction, holding the order's lock,
    clears an item's required characteristic (with `clear`) and commits."""
    tenant = await api.tenant()
    product = await api.product(
        characteristics=[{"name": "domain", "label": "Domain", "type": "text", "required": True}]
    )
    order = await api.draft(tenant)
    item = await api.item(
        tenant, order["id"], product, characteristics=[{"name": "domain", "value": "example.com"}]
    )
    async with order_held(dsn, order["id"]) as holder:
        checkout = asyncio.ensure_future(api.call(tenant, "POST", f"/api/orders/{order['id']}/checkout"))
        await waiting_for_locks(conn, 1)
        await holder.execute(clear, order["id"], item["id"], *extra)
    return await checkout, item


async def test_a_required_value_cleared_while_checkout_waits_is_missed_by_no_checkout(api, conn, dsn):
    """The checkout's one statement reads the items before it waits for the
    order's row; item_set_characteristics also writes that row, so the
    statement matches nothing and the locked path sees the cleared value."""
    (status, body), item = await _checkout_while_a_required_value_is_cleared(
        api, conn, dsn, QUERIES["item_set_characteristics"], '{"domain": null}', ["domain"], "holder"
    )
    assert status == 422, body
    assert [e["field"] for e in body["errors"]] == [f"items[{item['id']}].characteristics.domain"]


async def test_the_control_a_value_cleared_without_writing_the_order_row_is_missed(api, conn, dsn):
    """Why item_set_characteristics writes the order's row: the same change
    without it goes unseen, and the order is checked out without the value."""
    clear = "UPDATE order_items SET characteristics = characteristics - 'domain' WHERE order_id = $1 AND id = $2"
    (status, body), _ = await _checkout_while_a_required_value_is_cleared(api, conn, dsn, clear)
    assert status == 202, body
