"""Many dispatchers and senders on one database: each delivery is made once and
sent once, an event committed out of order is not skipped, a stale sender
cannot overwrite, and shutdown hands unfinished sends back."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import pytest
from aiohttp import web

from service import db
from service.app import create_app
from service.execution.webhook_dispatcher import WebhookDispatcher
from service.execution.webhook_sender import WebhookSender
from tests.execution_support import QUERIES
from tests.keys import box
from tests.webhook_support import PUBLIC_IP, eventually, fast, subscribe

UNLOCKED_DISPATCH = {**QUERIES, "webhook_dispatch_lock": "SELECT $1::bigint IS NOT NULL"}
UNGUARDED_CLAIM = {
    **QUERIES,
    "webhook_claim": QUERIES["webhook_claim"].replace("FOR UPDATE OF d SKIP LOCKED", ""),
}
UNBARRIERED_DISPATCH = {
    **QUERIES,
    "webhook_dispatch": QUERIES["webhook_dispatch"].replace(
        "AND e.xid < pg_snapshot_xmin(pg_current_snapshot())", ""
    ),
}


async def _event(conn, reseller_id: int) -> int:
    return await conn.fetchval(
        "INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type)"
        " VALUES ($1, 1, 1, 'order.created', 'system') RETURNING id",
        reseller_id,
    )


async def _write_events(pool, reseller_id: int, count: int) -> None:
    for _ in range(count):
        async with pool.acquire() as conn:
            await _event(conn, reseller_id)


async def _subscribed(api, hooks: int) -> tuple:
    tenant = await api.tenant()
    made = [await subscribe(api, tenant, f"https://{PUBLIC_IP}/{n}") for n in range(hooks)]
    return tenant, made


async def _race_dispatchers(api, pool, conn, queries) -> tuple[int, list[WebhookDispatcher]]:
    tenant, _ = await _subscribed(api, 2)
    bystander = await api.tenant(name="No webhooks")
    dispatchers = [
        WebhookDispatcher(db=db.Database(pool=pool, queries=queries), batch_size=50) for _ in range(4)
    ]
    writing = asyncio.gather(
        *(_write_events(pool, tenant.reseller_id, 250) for _ in range(4)),
        _write_events(pool, bystander.reseller_id, 50),
    )
    while not writing.done():
        await asyncio.gather(*(d.run_once() for d in dispatchers))
    await writing
    await asyncio.gather(*(d.run_once() for d in dispatchers))
    events = await conn.fetchval(
        "SELECT count(*) FROM order_events WHERE reseller_id = $1", tenant.reseller_id
    )
    return events, dispatchers


async def test_racing_dispatchers_make_each_delivery_once_and_one_does_the_work(api, pool, conn):
    events, dispatchers = await _race_dispatchers(api, pool, conn, QUERIES)
    assert events == 1000
    rows = await conn.fetch("SELECT event_id, webhook_id FROM webhook_deliveries")
    assert len(rows) == 2 * 1000 == len({(r["event_id"], r["webhook_id"]) for r in rows})
    # Under the lock each event was read by one dispatcher only; and a reseller
    # without webhooks costs the dispatchers nothing: its events are never read.
    assert sum(d.events_read for d in dispatchers) == events


async def test_without_the_lock_dispatchers_repeat_each_others_work(api, pool, conn):
    """The control: the unique key still stops duplicates, but every replica reads
    and inserts the same batches, so the lock is what makes one do the work."""
    events, dispatchers = await _race_dispatchers(api, pool, conn, UNLOCKED_DISPATCH)
    assert await conn.fetchval("SELECT count(*) FROM webhook_deliveries") == 2000
    assert sum(d.events_read for d in dispatchers) > events


async def test_an_event_that_commits_behind_a_later_one_is_not_skipped(api, pool, conn):
    await _race_free_barrier(api, pool, conn, QUERIES, expect_skipped=False)


async def test_without_the_snapshot_barrier_such_an_event_is_skipped(api, pool, conn):
    """The control: read past every committed event at once and the event of
    the transaction that began earlier but committed later is passed over."""
    await _race_free_barrier(api, pool, conn, UNBARRIERED_DISPATCH, expect_skipped=True)


async def _race_free_barrier(api, pool, conn, queries, *, expect_skipped: bool) -> None:
    tenant, _ = await _subscribed(api, 1)
    dispatcher = WebhookDispatcher(db=db.Database(pool=pool, queries=queries))
    async with pool.acquire() as early:
        slow = early.transaction()
        await slow.start()
        await early.fetchval("SELECT pg_current_xact_id()")  # its id is older than the next one's
        later = await _event(conn, tenant.reseller_id)
        await dispatcher.run_once()
        held_back = await conn.fetchval("SELECT count(*) FROM webhook_deliveries")
        earlier = await _event(early, tenant.reseller_id)
        await slow.commit()
    await dispatcher.run_once()
    made = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM webhook_deliveries")}
    if expect_skipped:
        assert held_back == 1 and made == {later}
    else:
        assert held_back == 0 and made == {later, earlier}


def _sender(pool, session, queries=QUERIES, **changes) -> WebhookSender:
    options = {
        "lease_seconds": 30.0,
        "timeout_seconds": 5.0,
        "concurrency": 4,
        "endpoint_concurrency": 4,
        "schedule": (0.1,),
        "disable_after_seconds": 3600.0,
        "poll_interval_seconds": 0.05,
        "allow_private": True,
        "box": box(),
    }
    options.update(changes)
    return WebhookSender(db=db.Database(pool=pool, queries=queries), session=session, **options)


@pytest.fixture
async def hook_session():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


async def _pending(api, pool, conn, url: str, events: int) -> None:
    tenant = await api.tenant()
    await subscribe(api, tenant, url)
    for _ in range(events):
        await _event(conn, tenant.reseller_id)
    await WebhookDispatcher(db=db.Database(pool=pool, queries=QUERIES)).run_once()
    assert await conn.fetchval("SELECT count(*) FROM webhook_deliveries") == events


async def test_racing_senders_send_each_delivery_once(webhook_api, receiver, pool, conn, hook_session):
    url, inbox = await receiver()
    api = await webhook_api(webhook_poll_interval_seconds=3600)
    await _pending(api, pool, conn, url, 150)
    senders = [_sender(pool, hook_session) for _ in range(5)]

    async def all_sent():
        await asyncio.gather(*(s.run_once() for s in senders))
        return await conn.fetchval("SELECT count(*) = 150 FROM webhook_deliveries WHERE state = 'succeeded'")

    await eventually(all_sent, within=30)
    assert len(inbox.received) == len(set(inbox.ids())) == 150
    assert sum(s.outcomes["succeeded"] for s in senders) == 150


async def _waiting_for_locks(pool, at_least: int) -> None:
    async def waiting():
        count = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return count >= at_least

    await eventually(waiting, within=5, every=0.02)


async def test_without_skip_locked_racing_claims_send_twice(webhook_api, receiver, pool, conn, hook_session):
    """The control for the test above: without the row locks in the claim, claims
    that read the rows as due at the same moment all send them."""
    url, inbox = await receiver()
    api = await webhook_api(webhook_poll_interval_seconds=3600)
    await _pending(api, pool, conn, url, 3)
    senders = [_sender(pool, hook_session, queries=UNGUARDED_CLAIM) for _ in range(3)]
    # Hold the rows, so every claim reads them as due before any has written its lease.
    holder = conn.transaction()
    await holder.start()
    await conn.execute("SELECT 1 FROM webhook_deliveries FOR UPDATE")
    ticks = asyncio.gather(*(s.run_once() for s in senders))
    await _waiting_for_locks(pool, len(senders))
    await holder.commit()
    await ticks
    await eventually(lambda: _all_done(conn))
    assert max(inbox.ids().count(i) for i in set(inbox.ids())) > 1


async def _all_done(conn) -> bool:
    return await conn.fetchval("SELECT bool_and(state <> 'pending') FROM webhook_deliveries")


async def test_a_sender_whose_lease_was_taken_over_cannot_overwrite(
    webhook_api, receiver, pool, conn, hook_session
):
    url, inbox = await receiver()
    api = await webhook_api(webhook_poll_interval_seconds=3600)
    await _pending(api, pool, conn, url, 1)
    stale = uuid.uuid4()
    async with pool.acquire() as claimer:
        (claim,) = await claimer.fetch(QUERIES["webhook_claim"], 10, 30.0, stale, 4, [], [])
    # The stale sender stalls past its lease; another one sends and records.
    await conn.execute("UPDATE webhook_deliveries SET lease_until = now() - interval '1 second'")
    await _sender(pool, hook_session).run_once()
    async with pool.acquire() as late:
        written = await late.fetchrow(
            QUERIES["webhook_attempt_failed"],
            claim["delivery_id"],
            stale,
            500,
            "late",
            None,
            "failed",
            None,
            60.0,
        )
    assert written is None
    row = await conn.fetchrow("SELECT state, attempts, last_error FROM webhook_deliveries")
    assert tuple(row) == ("succeeded", 1, None)
    assert len(inbox.received) == 1


async def test_shutdown_hands_back_a_send_that_outlasts_the_shutdown_timeout(
    dsn, settings, aiohttp_client, receiver, conn
):
    url, inbox = await receiver()
    release = asyncio.Event()

    async def hang(received, attempt):
        await release.wait()
        return web.Response(status=204)

    inbox.respond = hang
    client = await aiohttp_client(create_app(fast(settings, shutdown_timeout_seconds=0.3), dsn=dsn))
    from tests.api import Api

    api = Api(client)
    tenant = await api.tenant()
    await subscribe(api, tenant, url, eventTypes=["order.created"])
    await api.draft(tenant)
    await asyncio.wait_for(inbox.arrived.wait(), 10)
    leased = await conn.fetchrow("SELECT lease_until, lease_token FROM webhook_deliveries")
    assert leased["lease_until"] is not None

    started = time.monotonic()
    await client.close()
    assert time.monotonic() - started < 3
    release.set()
    row = await conn.fetchrow("SELECT state, attempts, lease_until, lease_token FROM webhook_deliveries")
    # Free for the next replica at once; the interrupted attempt is not counted.
    assert tuple(row) == ("pending", 0, None, None)
