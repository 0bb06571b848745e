"""Many pollers on one database: each item is submitted once per idempotency key,
work left by a killed worker is finished, and a stale worker cannot overwrite."""

from __future__ import annotations

import asyncio
import time
import uuid

from tests.execution_support import (
    QUERIES,
    checked_out,
    executions,
    external_id,
    product,
    run_until_final,
    stats,
    tenant,
)

UNGUARDED_CLAIM = QUERIES["execution_claim"].replace("FOR UPDATE OF e SKIP LOCKED", "")


async def _order_of(conn, url: str, items: int) -> tuple[int, list[int]]:
    tenancy = await tenant(conn)
    remote = await product(conn, {"type": "http", "url": url})
    return await checked_out(conn, tenancy, [remote] * items)


async def test_racing_pollers_submit_each_item_exactly_once(conn, make_poller, simulator, session):
    url, _ = await simulator(delay=0.05)
    order, items = await _order_of(conn, url, 30)
    # Small batches so the pollers need several rounds and really interleave.
    pollers = [make_poller(concurrency=4) for _ in range(6)]

    done = await run_until_final(pollers, conn, order, within=30)
    assert done["status"] == "Completed"
    assert await stats(session, url) == {
        "submissions": {f"item-{item}": 1 for item in items},
        "provisioned": len(items),
    }


async def _blocked_backends(pool, at_least: int, within: float = 5.0) -> None:
    # Asked outside the lock holder's transaction: activity is snapshotted per transaction.
    started = time.monotonic()
    while time.monotonic() - started < within:
        waiting = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        if waiting >= at_least:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {at_least} claims ever waited for the row locks")


async def test_without_skip_locked_racing_claims_submit_twice(conn, pool, make_poller, simulator, session):
    """The control for the test above: take the row locks out of the claim and
    submissions repeat, so the exactly-once result is the claim's doing."""
    url, _ = await simulator()
    order, items = await _order_of(conn, url, 8)
    pollers = [make_poller(queries={**QUERIES, "execution_claim": UNGUARDED_CLAIM}) for _ in range(4)]

    # Hold the rows as a checkout-time writer might, so every claim reads
    # them as due before any claim has written its lease.
    holder = conn.transaction()
    await holder.start()
    await conn.execute("SELECT 1 FROM executions FOR UPDATE")
    ticks = asyncio.gather(*(p.run_once() for p in pollers))
    await _blocked_backends(pool, at_least=len(pollers))
    await holder.commit()
    await ticks

    submissions = (await stats(session, url))["submissions"]
    assert max(submissions.values()) > 1


async def test_claims_skip_rows_another_transaction_holds(conn, make_poller, simulator, session):
    url, _ = await simulator()
    order, items = await _order_of(conn, url, 3)
    pollers = [make_poller() for _ in range(3)]

    async with conn.transaction():
        await conn.execute("SELECT 1 FROM executions FOR UPDATE")
        # No waiting and no claim while the rows are held.
        assert await asyncio.wait_for(asyncio.gather(*(p.run_once() for p in pollers)), 5) == [0, 0, 0]

    await run_until_final(pollers, conn, order)
    assert set((await stats(session, url))["submissions"].values()) == {1}


async def _killed_worker(conn, item: int, *, operation_id: str | None) -> None:
    """What a worker killed mid-step leaves behind: a claimed row whose lease has run out."""
    await conn.execute(
        """UPDATE executions SET status = 'In Progress', started_at = now() - interval '2 minutes',
                  attempts = 1, operation_id = $2, lease_token = $3,
                  lease_until = now() - interval '1 second', next_attempt_at = now() - interval '2 minutes'
           WHERE item_id = $1""",
        item,
        operation_id,
        uuid.uuid4(),
    )


async def _submit(session, url: str, order: int, item: int) -> str:
    """What a worker sends before it dies: the POST, under the item's key."""
    body = {
        "orderId": order,
        "itemId": item,
        "accountId": 1,
        "sku": "X",
        "quantity": 1,
        "billingCycle": "Monthly",
        "characteristics": {},
    }
    async with session.post(
        f"{url}/provisioning", headers={"Idempotency-Key": f"item-{item}"}, json=body
    ) as response:
        return (await response.json())["operationId"]


async def test_work_left_by_a_killed_worker_is_finished_and_provisioned_once(
    conn, make_poller, simulator, session
):
    url, _ = await simulator()
    order, (before_post, after_post, after_record, live_lease) = await _order_of(conn, url, 4)
    # Killed after the connector accepted the POST but before the answer was written.
    accepted = await _submit(session, url, order, after_post)
    await _killed_worker(conn, before_post, operation_id=None)
    await _killed_worker(conn, after_post, operation_id=None)
    await _killed_worker(conn, after_record, operation_id=None)
    recorded = await _submit(session, url, order, after_record)
    await conn.execute("UPDATE executions SET operation_id = $2 WHERE item_id = $1", after_record, recorded)
    # A worker that is alive and still within its lease is left alone.
    await conn.execute(
        "UPDATE executions SET status = 'In Progress', lease_token = $2, lease_until = now() + interval '1 hour'"
        " WHERE item_id = $1",
        live_lease,
        uuid.uuid4(),
    )
    await conn.execute("UPDATE orders SET status = 'In Progress', started_at = now() WHERE id = $1", order)
    poller = make_poller()

    for _ in range(5):
        await poller.run_once()
    rows = await executions(conn, order)
    assert [rows[i]["status"] for i in (before_post, after_post, after_record)] == ["Completed"] * 3
    assert rows[after_post]["operation_id"] == accepted
    assert rows[live_lease]["status"] == "In Progress" and rows[live_lease]["operation_id"] is None

    await conn.execute(
        "UPDATE executions SET lease_until = now() - interval '1 second' WHERE item_id = $1", live_lease
    )
    done = await run_until_final(poller, conn, order)
    assert done["status"] == "Completed"
    assert await stats(session, url) == {
        # The POST after the crash is repeated under the same key; provisioned once.
        "submissions": {
            f"item-{before_post}": 1,
            f"item-{after_post}": 2,
            f"item-{after_record}": 1,
            f"item-{live_lease}": 1,
        },
        "provisioned": 4,
    }


async def test_a_worker_whose_lease_was_taken_over_cannot_overwrite_the_result(conn, make_poller, pool):
    tenancy = await tenant(conn)
    order, (item,) = await checked_out(conn, tenancy, [await product(conn, {"type": "instant"})])
    stale_token = uuid.uuid4()
    async with pool.acquire() as claimer:
        (claim,) = await claimer.fetch(QUERIES["execution_claim"], 10, 30.0, stale_token, [])
    assert claim["item_id"] == item
    # The stale worker stalls past its lease; another one takes the item over.
    await conn.execute(
        "UPDATE executions SET lease_until = now() - interval '1 second' WHERE item_id = $1", item
    )
    await run_until_final(make_poller(), conn, order)

    async with pool.acquire() as stale:
        written = await stale.fetchval(QUERIES["execution_finished"], item, stale_token, "Failed", "late")
    assert written is None
    row = (await executions(conn, order))[item]
    assert (row["status"], row["message"]) == ("Completed", None)
    assert await external_id(conn, row) == f"sub-{item}"
    assert await conn.fetchval("SELECT count(*) FROM subscriptions") == 1


async def test_racing_pollers_on_many_orders_give_each_order_its_final_status(conn, make_poller, simulator):
    ok_url, _ = await simulator()
    bad_url, _ = await simulator(failure_rate=1.0)
    tenancy = await tenant(conn)
    good = await product(conn, {"type": "http", "url": ok_url})
    bad = await product(conn, {"type": "http", "url": bad_url})
    instant = await product(conn, {"type": "instant"})
    expected = {}
    for mix, status in (
        ([good, instant], "Completed"),
        ([good, bad], "Partially Completed"),
        ([bad, bad], "Failed"),
    ):
        for _ in range(4):
            order, _ = await checked_out(conn, tenancy, mix)
            expected[order] = status
    pollers = [make_poller(concurrency=3) for _ in range(5)]

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        await asyncio.gather(*(p.run_once() for p in pollers))
        rows = await conn.fetch("SELECT id, status FROM orders WHERE id = ANY($1::bigint[])", list(expected))
        if all(r["status"] in ("Completed", "Partially Completed", "Failed") for r in rows):
            break
        await asyncio.sleep(0.02)
    assert {r["id"]: r["status"] for r in rows} == expected
