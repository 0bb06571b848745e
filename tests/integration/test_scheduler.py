"""The jobs as the running service runs them: triggered by the scheduler, stopped with the app."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from aiohttp import web

from service.app import create_app
from service.state import POLLER
from tests.execution_support import checked_out, draft, executions, order_row, product, tenant


async def _eventually(check, *, within: float = 10.0):
    started = time.monotonic()
    while time.monotonic() - started < within:
        if result := await check():
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"not true within {within}s")


def _fast(settings, **changes):
    return dataclasses.replace(settings, poll_interval_seconds=0.1, expire_interval_seconds=0.1, **changes)


async def test_the_scheduler_runs_both_jobs(conn, dsn, settings, aiohttp_client, simulator):
    url, _ = await simulator(delay=0.2)
    tenancy = await tenant(conn)
    instant = await product(conn, {"type": "instant"})
    remote = await product(conn, {"type": "http", "url": url})
    order, _ = await checked_out(conn, tenancy, [instant, remote])
    expired, _ = await draft(conn, tenancy, [instant], expires_in_days=-1)
    kept, _ = await draft(conn, tenancy, [instant])
    await aiohttp_client(create_app(_fast(settings), dsn=dsn))

    async def finished():
        row = await order_row(conn, order)
        return row["status"] == "Completed" and await order_row(conn, expired) is None

    await _eventually(finished)
    assert await order_row(conn, kept) is not None


async def test_a_disabled_scheduler_runs_nothing(conn, dsn, settings, aiohttp_client):
    tenancy = await tenant(conn)
    order, _ = await checked_out(conn, tenancy, [await product(conn, {"type": "instant"})])
    client = await aiohttp_client(create_app(_fast(settings, scheduler_enabled=False), dsn=dsn))
    await asyncio.sleep(0.5)
    assert (await order_row(conn, order))["status"] == "Pending"
    # The jobs still exist, for a one-off run.
    assert await client.app[POLLER].run_once() == 1
    assert (await order_row(conn, order))["status"] == "Completed"


async def test_shutdown_hands_back_an_item_whose_call_outlasts_the_shutdown_timeout(
    conn, dsn, settings, aiohttp_client, fake_connector
):
    received, release = asyncio.Event(), asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        received.set()
        await asyncio.wait_for(release.wait(), 5)
        return web.json_response({"operationId": "op-late"}, status=202)

    url = await fake_connector(post=hang)
    tenancy = await tenant(conn)
    order, (item,) = await checked_out(conn, tenancy, [await product(conn, {"type": "http", "url": url})])
    client = await aiohttp_client(create_app(_fast(settings, shutdown_timeout_seconds=0.3), dsn=dsn))
    await asyncio.wait_for(received.wait(), 10)
    claimed = (await executions(conn, order))[item]
    assert claimed["lease_until"] is not None and claimed["attempts"] == 1

    started = time.monotonic()
    await client.close()
    assert time.monotonic() - started < 3
    release.set()
    row = (await executions(conn, order))[item]
    # Free for the next replica at once, and the interrupted call is not counted.
    assert (row["lease_until"], row["lease_token"], row["attempts"]) == (None, None, 0)
    assert (row["status"], row["operation_id"]) == ("In Progress", None)


async def test_shutdown_lets_a_call_in_flight_finish_and_record_its_result(
    conn, dsn, settings, aiohttp_client, fake_connector
):
    received = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        received.set()
        await asyncio.sleep(0.5)
        return web.json_response({"operationId": "op-slow"}, status=202)

    url = await fake_connector(post=slow)
    tenancy = await tenant(conn)
    order, (item,) = await checked_out(conn, tenancy, [await product(conn, {"type": "http", "url": url})])
    client = await aiohttp_client(create_app(_fast(settings, shutdown_timeout_seconds=5), dsn=dsn))
    await asyncio.wait_for(received.wait(), 10)
    await client.close()
    row = (await executions(conn, order))[item]
    assert (row["status"], row["operation_id"], row["lease_until"]) == ("In Progress", "op-slow", None)
