"""Expired drafts are deleted with their items, each leaving one order.expired event; nothing
else is, even under a racing checkout, racing jobs or a shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import asyncpg
import pytest

from service.db import Database
from service.execution.expiry import DraftExpiry
from tests.execution_support import QUERIES, checked_out, checkout, draft, product, tenant

# The expiry statement with its two protections taken out, for the control test.
UNGUARDED_DELETE = """
WITH doomed AS (
    SELECT id FROM orders WHERE status = 'Draft' AND expiration_date < current_date AND id > $2::bigint
    ORDER BY id LIMIT $1::integer
),
deleted AS (DELETE FROM orders o USING doomed WHERE o.id = doomed.id RETURNING o.id)
SELECT (SELECT count(*) FROM deleted)::integer AS deleted, (SELECT max(id) FROM doomed) AS last_id
"""

# The control for the events test: the event written for every draft a batch
# claimed rather than every draft it deleted, and without the lock that keeps
# two batches from claiming the same draft.
EVENTS_OF_CLAIMED = """
WITH doomed AS (
    SELECT id, reseller_id, account_id, expiration_date FROM orders
    WHERE status = 'Draft' AND expiration_date < current_date AND id > $2::bigint
    ORDER BY id LIMIT $1::integer
),
deleted AS (
    DELETE FROM orders o USING doomed
    WHERE o.id = doomed.id AND o.status = 'Draft' AND o.expiration_date < current_date
    RETURNING o.id
),
events AS (
    INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type, data)
    SELECT reseller_id, id, account_id, 'order.expired', 'system',
           jsonb_build_object('expirationDate', expiration_date)
    FROM doomed
)
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
    # An order.expired event for each draft the job deleted, and only for those.
    events = await _expired_events(conn)
    assert sorted(events) == sorted(o for o in drafts if not won[o])
    assert {len(e) for e in events.values()} <= {1}


async def _expired_events(conn) -> dict[int, list[tuple]]:
    """order id -> its order.expired events as (reseller, account, actor type, data)."""
    events: dict[int, list[tuple]] = {}
    for row in await conn.fetch(
        "SELECT order_id, reseller_id, account_id, actor_type, data::text AS data FROM order_events"
        " WHERE type = 'order.expired' ORDER BY id"
    ):
        events.setdefault(row["order_id"], []).append(
            (row["reseller_id"], row["account_id"], row["actor_type"], json.loads(row["data"]))
        )
    return events


async def _spread_expiration_dates(conn, drafts: list[int]) -> dict[int, str]:
    """Expired 1 to 5 days ago, so each event's date is its own draft's; return them as ISO dates."""
    rows = await conn.fetch(
        "UPDATE orders SET expiration_date = current_date - 1 - (id % 5)::integer"
        " WHERE id = ANY($1::bigint[]) RETURNING id, expiration_date",
        drafts,
    )
    return {r["id"]: r["expiration_date"].isoformat() for r in rows}


async def test_each_deleted_draft_leaves_exactly_one_order_expired_event_when_jobs_race(conn, pool):
    tenancy = await tenant(conn)
    reseller, account = tenancy
    instant = await product(conn, {"type": "instant"})
    drafts = await _expired_drafts(conn, tenancy, 300, instant)
    expiration = await _spread_expiration_dates(conn, drafts)
    held = drafts[100]
    # Three replicas' jobs at once, on small batches.
    jobs = [DraftExpiry(db=Database(pool=pool, queries=QUERIES), batch_size=7) for _ in range(3)]

    async with conn.transaction():
        # A checkout holds one draft; it rolls back, so the draft stays a draft.
        await conn.execute("SELECT id FROM orders WHERE id = $1 FOR UPDATE", held)
        # Done while the hold is still on: the jobs passed over it, never waited.
        deleted = await asyncio.wait_for(asyncio.gather(*(job.run_once() for job in jobs)), 10)

    assert sum(deleted) == 299
    events = await _expired_events(conn)
    assert events == {
        order: [(reseller, account, "system", {"expirationDate": expiration[order]})]
        for order in drafts
        if order != held
    }
    # The held draft is deleted by the next run, and leaves its one event then.
    assert await jobs[0].run_once() == 1
    assert (await _expired_events(conn))[held] == [
        (reseller, account, "system", {"expirationDate": expiration[held]})
    ]
    assert await conn.fetchval("SELECT count(*) FROM orders") == 0


async def test_without_its_guards_racing_jobs_write_an_event_twice(conn, pool):
    """The control for the test above: events of the claimed drafts, without the
    lock, give a draft two order.expired events when two jobs race."""
    tenancy = await tenant(conn)
    instant = await product(conn, {"type": "instant"})
    drafts = await _expired_drafts(conn, tenancy, 20, instant)
    queries = {**QUERIES, "expiry_delete_batch": EVENTS_OF_CLAIMED}
    jobs = [DraftExpiry(db=Database(pool=pool, queries=queries)) for _ in range(2)]

    async with conn.transaction():
        await conn.execute("SELECT id FROM orders WHERE id = $1 FOR UPDATE", drafts[0])
        running = asyncio.gather(*(job.run_once() for job in jobs))
        await asyncio.sleep(0.3)  # both DELETEs now wait for the held draft
    assert sum(await running) == 20
    events = await _expired_events(conn)
    assert sorted(events) == drafts
    assert {len(e) for e in events.values()} == {2}


async def test_drain_lets_the_batches_in_flight_commit_and_starts_no_more(conn, pool):
    tenancy = await tenant(conn)
    instant = await product(conn, {"type": "instant"})
    drafts = await _expired_drafts(conn, tenancy, 3000, instant)
    expiry = DraftExpiry(db=Database(pool=pool, queries=QUERIES), batch_size=5)
    running = asyncio.ensure_future(expiry.run_once())
    count_events = "SELECT count(*) FROM order_events WHERE type = 'order.expired'"
    while not await conn.fetchval(count_events):
        await asyncio.sleep(0.005)

    started = time.monotonic()
    await expiry.drain(timeout=5)
    # Only the batch in flight was waited for: not the whole backlog, nor the timeout.
    assert time.monotonic() - started < 2
    deleted = await running
    left = await conn.fetchval("SELECT count(*) FROM orders WHERE id = ANY($1::bigint[])", drafts)
    assert 0 < deleted < len(drafts) and left == len(drafts) - deleted
    # Every batch committed whole: one event per deleted draft, none for the others.
    assert await conn.fetchval(count_events) == deleted
    assert await conn.fetchval("SELECT count(*) FROM order_items") == left
    await asyncio.sleep(0.2)
    assert await conn.fetchval(count_events) == deleted


async def test_an_order_deleted_takes_its_items_and_their_executions_with_it(conn):
    """The cascade the job relies on: one foreign key from executions to their
    item and its order (drafts have no executions, but a confirmed order does)."""
    tenancy = await tenant(conn)
    instant = await product(conn, {"type": "instant"})
    order, items = await checked_out(conn, tenancy, [instant, instant])
    other, _ = await checked_out(conn, tenancy, [instant])
    # An execution's order is always its item's order.
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await conn.execute("UPDATE executions SET order_id = $1 WHERE item_id = $2", other, items[0])

    await conn.execute("DELETE FROM orders WHERE id = $1", order)
    assert await conn.fetchval("SELECT count(*) FROM order_items WHERE order_id = $1", order) == 0
    assert await conn.fetchval("SELECT count(*) FROM executions WHERE order_id = $1", order) == 0
    assert await conn.fetchval("SELECT count(*) FROM executions WHERE order_id = $1", other) == 1
