"""Webhooks sent by real `serve` processes sharing one database, as replicas do."""

from __future__ import annotations

import asyncio
import collections
import signal
import time

import aiohttp
from aiohttp import web

from tests.api import ADMIN_TOKEN, Api
from tests.process import free_port, service_env, start, wait_for_status
from tests.webhook_support import eventually, subscribe


async def _replica(dsn: str, **extra: str):
    port = free_port()
    env = service_env(
        DATABASE_URL=dsn,
        ADMIN_TOKEN=ADMIN_TOKEN,
        PORT=str(port),
        HOST="127.0.0.1",
        WEBHOOK_POLL_INTERVAL_SECONDS="0.1",
        WEBHOOK_ALLOW_PRIVATE_URLS="true",
        SHUTDOWN_DRAIN_SECONDS="0",
        LOG_LEVEL="WARNING",
        **extra,
    )
    process = start(["serve"], env=env)
    base = f"http://127.0.0.1:{port}"
    await asyncio.to_thread(wait_for_status, f"{base}/health/ready", 200, within=30, process=process)
    return process, base


async def _stop(processes, *, expect_clean: bool = True) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            _, err = await asyncio.to_thread(process.communicate, timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        if expect_clean:
            assert process.returncode == 0, err[-3000:]
            assert '"level": "error"' not in err, err[-3000:]


async def _states(conn) -> collections.Counter:
    rows = await conn.fetch("SELECT state, attempts FROM webhook_deliveries")
    return collections.Counter((r["state"], r["attempts"]) for r in rows)


async def test_two_replicas_deliver_1000_events_each_at_least_once_and_at_most_twice(dsn, conn, receiver):
    """Duplicates can only come from a send whose result was not recorded (its
    replica died, or lost the database, between the answer and the write) or
    that outlived its lease; none of that happens here, so there are none."""
    url, inbox = await receiver()
    (first, first_url), (second, second_url) = await asyncio.gather(_replica(dsn), _replica(dsn))
    try:
        async with (
            aiohttp.ClientSession(base_url=first_url) as one,
            aiohttp.ClientSession(base_url=second_url) as two,
        ):
            tenant = await Api(one).tenant()
            hook = await subscribe(Api(one), tenant, url, eventTypes=["order.created"])
            bodies = {"accountId": tenant.account_id}

            async def orders(session, count: int) -> None:
                for _ in range(count):
                    async with session.post("/api/orders", json=bodies, headers=tenant.headers) as response:
                        assert response.status == 201

            # 1,000 changes through both replicas, 20 at a time.
            await asyncio.gather(*(orders(one if n % 2 else two, 50) for n in range(20)))

            async def all_delivered():
                return (
                    await conn.fetchval(
                        "SELECT count(*) FROM webhook_deliveries WHERE state = 'succeeded' AND webhook_id = $1",
                        hook["id"],
                    )
                    == 1000
                )

            await eventually(all_delivered, within=120, every=0.5)
    finally:
        await _stop([first, second])
    counts = collections.Counter(inbox.ids())
    events = await conn.fetch("SELECT 'evt_' || id AS id FROM order_events WHERE type = 'order.created'")
    assert set(counts) == {row["id"] for row in events} and len(counts) == 1000
    duplicates = sum(n - 1 for n in counts.values())
    assert max(counts.values()) <= 2
    assert duplicates == 0, f"{duplicates} duplicate deliveries"
    assert await _states(conn) == {("succeeded", 1): 1000}


async def test_a_replica_killed_mid_send_loses_no_delivery(dsn, conn, receiver):
    url, inbox = await receiver()
    killed = asyncio.Event()

    async def hang_until_killed(received, attempt):
        if not killed.is_set():
            await killed.wait()
        return web.Response(status=204)

    inbox.respond = hang_until_killed
    lease = {"WEBHOOK_LEASE_SECONDS": "4", "WEBHOOK_TIMEOUT_SECONDS": "2"}
    doomed, base = await _replica(dsn, **lease)
    async with aiohttp.ClientSession(base_url=base) as session:
        api = Api(session)
        tenant = await api.tenant()
        await subscribe(api, tenant, url, eventTypes=["order.created"])
        for _ in range(20):
            await api.draft(tenant)
    await asyncio.wait_for(inbox.arrived.wait(), 20)
    assert await conn.fetchval("SELECT count(*) FROM webhook_deliveries WHERE lease_until > now()") > 0
    doomed.send_signal(signal.SIGKILL)
    await asyncio.to_thread(doomed.communicate, timeout=10)
    in_flight = set(inbox.ids())
    killed.set()
    killed_at = time.monotonic()

    survivor, _ = await _replica(dsn, **lease)
    try:
        await eventually(
            lambda: conn.fetchval("SELECT bool_and(state = 'succeeded') FROM webhook_deliveries"), within=30
        )
    finally:
        await _stop([survivor])
    counts = collections.Counter(inbox.ids())
    assert len(counts) == 20
    # Only the sends cut short by the kill were repeated, once each, after their lease ran out.
    assert {i for i, n in counts.items() if n > 1} == in_flight and max(counts.values()) == 2
    assert time.monotonic() - killed_at < 30
    # The killed attempts left no record: each delivery shows the one that succeeded.
    assert await _states(conn) == {("succeeded", 1): 20}
