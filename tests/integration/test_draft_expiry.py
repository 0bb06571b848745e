"""Expired drafts are deleted with their items; nothing else is, even under a racing checkout."""

from __future__ import annotations

import asyncio
import logging

from service.execution.expiry import DraftExpiry
from service.db import Database
from tests.execution_support import QUERIES, checkout, draft, product, tenant

# The expiry statement with its two protections taken out, for the control test.
UNGUARDED_DELETE = """
WITH doomed AS (
    SELECT id FROM orders WHERE status = 'Draft' AND expiration_date < current_date AND id > $2::bigint
    ORDER BY id LIMIT $1::integer
),
deleted AS (DELETE FROM orders o USING doomed WHERE o.id = doomed.id RETURNING o.id)
SELECT (SELECT count(*) FROM deleted)::integer AS deleted, (SELECT max(id) FROM doomed) AS last_id
"""


async def _expired_drafts(conn, tenancy, count: int, product_id: int) -> list[int]:
    """count drafts that expired yesterday, one item each, inserted in one statement each."""
    reseller, account = tenancy
    orders = await conn.fetch(
        """INSERT INTO orders (reseller_id, account_id, order_date, expiration_date, currency)
           SELECT $1, $2, current_date - 8, current_date - 1, 'USD' FROM generate_series(1, $3)
           RETURNING id""",
        reseller,
        account,
        count,
    )
    ids = [r["id"] for r in orders]
    await conn.execute(
        """INSERT INTO order_items (order_id, reseller_id, product_id, sku, product_name, quantity,
                                    billing_cycle, unit_price, total_price, currency)
           SELECT o, $2, p.id, p.sku, p.name, 1, 'Monthly', 10, 10, 'USD'
           FROM unnest($1::bigint[]) AS o, products p WHERE p.id = $3""",
        ids,
        reseller,
        product_id,
    )
    return ids


async def test_expired_drafts_and_their_items_are_deleted_in_batches(conn, pool, caplog):
    tenancy = await tenant(conn)
    instant = await product(conn, {"type": "instant"})
    expired = await _expired_drafts(conn, tenancy, 2500, instant)
    today, _ = await draft(conn, tenancy, [instant], expires_in_days=0)
    later, _ = await draft(conn, tenancy, [instant], expires_in_days=7)
    confirmed, _ = await draft(conn, tenancy, [instant], expires_in_days=-3)
    assert await checkout(conn, confirmed)
    # A confirmed order whose expiration date was never cleared is still not a draft.
    await conn.execute("UPDATE orders SET expiration_date = current_date - 3 WHERE id = $1", confirmed)

    caplog.set_level(logging.INFO, logger="service.execution.expiry")
    deleted = await DraftExpiry(db=Database(pool=pool, queries=QUERIES), batch_size=1000).run_once()

    assert deleted == 2500
    (record,) = [r for r in caplog.records if r.getMessage() == "expired drafts deleted"]
    assert (record.deleted, record.batches) == (2500, 3)
    left = {r["id"] for r in await conn.fetch("SELECT id FROM orders")}
    assert left == {today, later, confirmed}
    assert (
        await conn.fetchval("SELECT count(*) FROM order_items WHERE order_id = ANY($1::bigint[])", expired)
        == 0
    )
    assert await conn.fetchval("SELECT count(*) FROM order_items") == 3
    assert await conn.fetchval("SELECT count(*) FROM executions") == 1
    assert await DraftExpiry(db=Database(pool=pool, queries=QUERIES)).run_once() == 0


async def test_a_draft_being_checked_out_is_skipped_not_waited_for_and_survives(conn, pool):
    tenancy = await tenant(conn)
    instant = await product(conn, {"type": "instant"})
    racing, other = await _expired_drafts(conn, tenancy, 2, instant)
    expiry = DraftExpiry(db=Database(pool=pool, queries=QUERIES))

    async with conn.transaction():
        # The checkout's guarded UPDATE has run but not committed yet.
        assert await conn.fetchval(
            "UPDATE orders SET status = 'Pending', expiration_date = NULL WHERE id = $1 AND status = 'Draft'"
            " RETURNING id",
            racing,
        )
        assert await asyncio.wait_for(expiry.run_once(), 5) == 1
    assert await expiry.run_once() == 0
    assert await conn.fetchval("SELECT status FROM orders WHERE id = $1", racing) == "Pending"
    assert await conn.fetchval("SELECT count(*) FROM orders WHERE id = $1", other) == 0


async def test_without_its_guards_expiry_deletes_an_order_that_was_just_checked_out(conn, pool):
    """The control for the test above: the same interleaving with the lock and
    the status re-check removed loses a confirmed order."""
    tenancy = await tenant(conn)
    instant = await product(conn, {"type": "instant"})
    (racing,) = await _expired_drafts(conn, tenancy, 1, instant)
    expiry = DraftExpiry(db=Database(pool=pool, queries={**QUERIES, "expiry_delete_batch": UNGUARDED_DELETE}))

    async with conn.transaction():
        await conn.execute(
            "UPDATE orders SET status = 'Pending', expiration_date = NULL WHERE id = $1", racing
        )
        running = asyncio.ensure_future(expiry.run_once())
        await asyncio.sleep(0.3)  # the DELETE is now waiting for the checkout's row lock
        assert not running.done()
    assert await running == 1
    assert await conn.fetchval("SELECT count(*) FROM orders WHERE id = $1", racing) == 0


async def test_checkouts_racing_the_expiry_job_either_win_fully_or_find_the_draft_gone(conn, pool):
    tenancy = await tenant(conn)
    instant = await product(conn, {"type": "instant"})
    drafts = await _expired_drafts(conn, tenancy, 200, instant)

    async def checkout_in_own_connection(order: int) -> bool:
        async with pool.acquire() as own:
            return await checkout(own, order)

    expiries = [DraftExpiry(db=Database(pool=pool, queries=QUERIES), batch_size=7) for _ in range(3)]
    results = await asyncio.gather(
        *(e.run_once() for e in expiries), *(checkout_in_own_connection(o) for o in drafts)
    )
    deleted, won = sum(results[: len(expiries)]), dict(zip(drafts, results[len(expiries) :], strict=True))

    rows = {r["id"]: r["status"] for r in await conn.fetch("SELECT id, status FROM orders")}
    for order in drafts:
        if won[order]:
            assert rows.get(order) == "Pending", order
        else:
            assert order not in rows, order
    assert deleted == sum(1 for w in won.values() if not w)
    survivors = [o for o in drafts if won[o]]
    assert await conn.fetchval(
        "SELECT count(*) FROM executions WHERE order_id = ANY($1::bigint[])", survivors
    ) == len(survivors)
