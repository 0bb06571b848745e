"""Checked-out orders are provisioned item by item and end in the right status."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from tests.execution_support import (
    checked_out,
    executions,
    external_id,
    order_row,
    product,
    run_until_final,
    stats,
    tenant,
)


async def test_items_on_both_connectors_complete_and_so_does_the_order(conn, make_poller, simulator, session):
    url, _ = await simulator(delay=0.3)
    tenancy = await tenant(conn)
    instant = await product(conn, {"type": "instant"})
    remote = await product(conn, {"type": "http", "url": url})
    order, (first, second) = await checked_out(conn, tenancy, [instant, remote])
    poller = make_poller()

    await poller.run_once()
    rows = await executions(conn, order)
    assert rows[first]["status"] == "Completed"
    assert await external_id(conn, rows[first]) == f"sub-{first}"
    assert rows[second]["status"] == "In Progress"
    assert rows[second]["operation_id"]
    started = await order_row(conn, order)
    assert started["status"] == "In Progress"
    assert started["started_at"] is not None and started["completed_at"] is None

    done = await run_until_final(poller, conn, order)
    rows = await executions(conn, order)
    assert done["status"] == "Completed"
    assert done["completed_at"] >= done["started_at"] == started["started_at"]
    assert rows[second]["status"] == "Completed"
    assert await external_id(conn, rows[second]) == f"sim-sub-{second}"
    assert all(r["lease_until"] is None and r["completed_at"] for r in rows.values())
    assert await stats(session, url) == {"submissions": {f"item-{second}": 1}, "provisioned": 1}


async def test_a_failing_item_leaves_the_order_partially_completed(conn, make_poller, simulator):
    url, _ = await simulator(failure_rate=1.0)
    tenancy = await tenant(conn)
    instant = await product(conn, {"type": "instant"})
    remote = await product(conn, {"type": "http", "url": url})
    order, (good, bad) = await checked_out(conn, tenancy, [instant, remote])

    done = await run_until_final(make_poller(), conn, order)
    rows = await executions(conn, order)
    assert done["status"] == "Partially Completed"
    assert rows[good]["status"] == "Completed"
    assert (rows[bad]["status"], rows[bad]["message"]) == ("Failed", f"the provider declined item {bad}")
    assert rows[bad]["subscription_id"] is None


async def test_all_items_failing_fail_the_order(conn, make_poller, simulator):
    url, _ = await simulator(failure_rate=1.0)
    tenancy = await tenant(conn)
    remote = await product(conn, {"type": "http", "url": url})
    order, items = await checked_out(conn, tenancy, [remote, remote, remote])

    done = await run_until_final(make_poller(), conn, order)
    assert done["status"] == "Failed"
    assert done["completed_at"] is not None
    assert {r["status"] for r in (await executions(conn, order)).values()} == {"Failed"}


async def _accepted(request: web.Request) -> web.Response:
    return web.json_response({"operationId": "op-1"}, status=202)


def _answer(body: str, status: int = 200):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=body, status=status, content_type="application/json")

    return handler


@pytest.mark.parametrize(
    ("post", "get", "message"),
    [
        (_answer("<html>oops</html>", 202), None, "without a usable operationId"),
        (_answer('{"operationId": null}', 202), None, "without a usable operationId"),
        (
            _answer('{"detail": "unknown sku"}', 400),
            None,
            "refused the provisioning request with HTTP 400: unknown sku",
        ),
        (_accepted, _answer("[1, 2]"), "not a JSON object"),
        (_accepted, _answer('{"status": "Done"}'), "unknown status 'Done'"),
        (_accepted, _answer('{"status": "Completed"}'), "Completed without a usable subscriptionId"),
        (_accepted, _answer('{"status": "In Progress", "message": 42}'), "message that is not text"),
        (_accepted, _answer("{}", 404), "does not know operation 'op-1'"),
    ],
)
async def test_a_connector_answering_garbage_fails_only_that_item(
    conn, make_poller, fake_connector, post, get, message
):
    url = await fake_connector(post=post, get=get)
    tenancy = await tenant(conn)
    instant = await product(conn, {"type": "instant"})
    remote = await product(conn, {"type": "http", "url": url})
    order, (good, bad) = await checked_out(conn, tenancy, [instant, remote])

    done = await run_until_final(make_poller(), conn, order)
    rows = await executions(conn, order)
    assert done["status"] == "Partially Completed"
    assert rows[good]["status"] == "Completed"
    assert rows[bad]["status"] == "Failed"
    assert message in rows[bad]["message"]


async def test_a_product_without_a_usable_fulfillment_fails_its_item(conn, make_poller):
    tenancy = await tenant(conn)
    odd = await product(conn, {"type": "carrier-pigeon"})
    order, (item,) = await checked_out(conn, tenancy, [odd])
    done = await run_until_final(make_poller(), conn, order)
    assert done["status"] == "Failed"
    assert "'carrier-pigeon' is not supported" in (await executions(conn, order))[item]["message"]


async def test_5xx_and_timeouts_are_retried_with_backoff_then_succeed(conn, make_poller, fake_connector):
    calls = {"post": 0, "keys": set()}

    async def post(request: web.Request) -> web.Response:
        calls["post"] += 1
        calls["keys"].add(request.headers["Idempotency-Key"])
        if calls["post"] == 1:
            return web.json_response({"detail": "busy"}, status=503)
        if calls["post"] == 2:
            await asyncio.sleep(2)  # longer than the client's timeout
        return web.json_response({"operationId": "op-9"}, status=202)

    async def get(request: web.Request) -> web.Response:
        return web.json_response({"status": "Completed", "subscriptionId": "S-9"})

    url = await fake_connector(post=post, get=get)
    tenancy = await tenant(conn)
    order, (item,) = await checked_out(conn, tenancy, [await product(conn, {"type": "http", "url": url})])
    poller = make_poller()

    await poller.run_once()
    row = (await executions(conn, order))[item]
    assert (row["status"], row["attempts"], row["message"]) == (
        "In Progress",
        1,
        "the connector answered HTTP 503",
    )
    assert row["next_attempt_at"] > await conn.fetchval("SELECT now()")
    assert row["lease_until"] is None

    done = await run_until_final(poller, conn, order, within=20)
    row = (await executions(conn, order))[item]
    assert done["status"] == "Completed"
    assert await external_id(conn, row) == "S-9"
    assert calls["post"] == 3
    assert calls["keys"] == {f"item-{item}"}


async def test_an_item_past_its_deadline_fails_with_the_reason(conn, make_poller):
    tenancy = await tenant(conn)
    # Nothing listens on port 9 of the loopback: every call is refused.
    unreachable = await product(conn, {"type": "http", "url": "http://127.0.0.1:9"})
    order, (item,) = await checked_out(conn, tenancy, [unreachable], deadline_seconds=1)
    poller = make_poller()

    await poller.run_once()
    row = (await executions(conn, order))[item]
    assert row["status"] == "In Progress"
    assert row["message"].startswith("the connector could not be reached")
    # Retries are never scheduled past the deadline.
    assert row["next_attempt_at"] <= row["deadline_at"]

    done = await run_until_final(poller, conn, order, within=10)
    row = (await executions(conn, order))[item]
    assert done["status"] == "Failed"
    assert row["message"].startswith("not provisioned before its deadline")
    assert "could not be reached" in row["message"]
