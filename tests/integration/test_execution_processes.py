"""Several service processes on one database, as replicas run in production."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
import urllib.request

from tests.execution_support import checked_out, executions, product, tenant
from tests.process import free_port, serve, service_env, start, wait_for_status
from tests.process import stop as _stop

FINAL = ("Completed", "Partially Completed", "Failed")


def _stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/stats", timeout=5) as response:
        return json.load(response)


@contextlib.asynccontextmanager
async def _connector(delay: float, latency: float = 0.0):
    port = free_port()
    sim = start(
        [
            "connector-sim",
            "--port",
            str(port),
            "--delay",
            str(delay),
            "--latency",
            str(latency),
            "--seed",
            "1",
        ],
        env=service_env(),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(wait_for_status, f"{url}/stats", 200, within=20, process=sim)
        yield url
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.communicate(timeout=10)


async def _replica(dsn: str, **extra: str):
    return (await serve(dsn, **extra))[0]


async def _statuses(conn, orders) -> list[str]:
    rows = await conn.fetch("SELECT status FROM orders WHERE id = ANY($1::bigint[]) ORDER BY id", orders)
    return [row["status"] for row in rows]


async def _until_final(conn, orders, within: float) -> list[str]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        statuses = await _statuses(conn, orders)
        if all(s in FINAL for s in statuses):
            return statuses
        await asyncio.sleep(0.2)
    return await _statuses(conn, orders)


async def test_three_replicas_execute_200_orders_submitting_each_item_once(conn, dsn):
    async with _connector(delay=0.2) as url:
        tenancy = await tenant(conn)
        remote = await product(conn, {"type": "http", "url": url})
        instant = await product(conn, {"type": "instant"})
        orders = [(await checked_out(conn, tenancy, [remote, instant]))[0] for _ in range(200)]
        replicas = await asyncio.gather(*(_replica(dsn, CONNECTOR_CONCURRENCY="10") for _ in range(3)))
        try:
            statuses = await _until_final(conn, orders, within=90)
        finally:
            await _stop(replicas)
        assert statuses == ["Completed"] * 200
        remote_items = [
            item
            for order in orders
            for item, row in (await executions(conn, order)).items()
            if row["operation_id"]
        ]
        assert len(remote_items) == 200
        stats = await asyncio.to_thread(_stats, url)
        assert stats == {"submissions": {f"item-{i}": 1 for i in remote_items}, "provisioned": 200}


async def test_a_replica_killed_mid_execution_leaves_nothing_stuck_once_its_lease_ends(conn, dsn):
    lease = {"EXECUTION_LEASE_SECONDS": "4", "CONNECTOR_TIMEOUT_SECONDS": "2", "CONNECTOR_CONCURRENCY": "10"}
    # Every call takes 1 s to answer, so the replica is killed inside calls, holding leases.
    async with _connector(delay=0.5, latency=1.0) as url:
        tenancy = await tenant(conn)
        remote = await product(conn, {"type": "http", "url": url})
        orders = [(await checked_out(conn, tenancy, [remote, remote]))[0] for _ in range(10)]
        doomed = await _replica(dsn, **lease)
        deadline = time.monotonic() + 20
        held = 0
        while not held and time.monotonic() < deadline:
            held = await conn.fetchval("SELECT count(*) FROM executions WHERE lease_until > now()")
            await asyncio.sleep(0.05)
        assert held, "the replica never held a lease"
        doomed.send_signal(signal.SIGKILL)
        await asyncio.to_thread(doomed.communicate, timeout=10)
        killed_at = time.monotonic()
        leased = await conn.fetchval("SELECT count(*) FROM executions WHERE lease_until > now()")
        assert leased > 0, "the kill left no lease behind"

        survivor = await _replica(dsn, **lease)
        try:
            statuses = await _until_final(conn, orders, within=60)
        finally:
            await _stop([survivor])
        assert statuses == ["Completed"] * 10
        assert time.monotonic() - killed_at < 60
        stats = await asyncio.to_thread(_stats, url)
        # Calls repeated after the crash reuse the idempotency key: each item provisioned once.
        assert stats["provisioned"] == 20, stats
        assert len(stats["submissions"]) == 20, stats
        assert await conn.fetchval("SELECT count(*) FROM executions WHERE subscription_id IS NULL") == 0
