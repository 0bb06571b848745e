"""Idempotency-Key across real `serve` processes on one database: one effect
per key whichever replica gets the requests, and a process killed in the
middle of a keyed request leaves the key free and nothing half done."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal

import aiohttp
import pytest

from service.http.idempotency import key_digest
from tests.locks import order_held, waiting_for_locks
from tests.process import serve, stop

KEY = "Idempotency-Key"


async def _post(session, url: str, path: str, headers: dict, body=None):
    async with session.post(url + path, json=body, headers=headers) as response:
        return response.status, dict(response.headers), await response.read()


async def test_a_hundred_concurrent_requests_with_one_key_on_two_replicas_add_one_item(api, conn, dsn):
    tenant = await api.tenant()
    product = await api.product()
    order = await api.draft(tenant)
    path = f"/api/orders/{order['id']}/items"
    body = {"productId": product["id"], "quantity": 1, "billingCycle": "Monthly"}
    headers = {**tenant.headers, KEY: "one-item-please"}
    replicas = await asyncio.gather(serve(dsn), serve(dsn))
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
            answers = await asyncio.gather(
                *(_post(session, replicas[n % 2][1], path, headers, body) for n in range(100))
            )
    finally:
        await stop([process for process, _ in replicas])

    applied = [a for a in answers if a[0] == 201 and "Idempotent-Replayed" not in a[1]]
    replayed = [a for a in answers if a[0] == 201 and a[1].get("Idempotent-Replayed") == "true"]
    in_progress = [
        a for a in answers if a[0] == 409 and json.loads(a[2])["code"] == "idempotency_key_in_progress"
    ]
    assert len(applied) == 1, [a[:1] + (a[2][:200],) for a in answers if a not in replayed + in_progress]
    assert len(applied) + len(replayed) + len(in_progress) == 100
    assert all(a[2] == applied[0][2] and a[1]["Location"] == applied[0][1]["Location"] for a in replayed)
    assert all(a[1]["Retry-After"] == "1" for a in in_progress)
    assert await conn.fetchval("SELECT count(*) FROM order_items WHERE order_id = $1", order["id"]) == 1
    assert await conn.fetchval("SELECT item_count FROM orders WHERE id = $1", order["id"]) == 1
    added = "SELECT count(*) FROM order_events WHERE order_id = $1 AND type = 'order.item_added'"
    assert await conn.fetchval(added, order["id"]) == 1


@contextlib.asynccontextmanager
async def _key_held(conn, tenant, key: str):
    """Another writer of the key's row, never committed: a request's insert of
    its answer waits for it, after the request's own statements have run."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute(
            "INSERT INTO idempotency_keys (reseller_id, digest, fingerprint, status, body, expires_at)"
            " VALUES ($1, $2, '', 200, '', now() + interval '1 hour')",
            tenant.reseller_id,
            key_digest(tenant.reseller_id, tenant.client_id, key),
        )
        yield
    finally:
        await transaction.rollback()


async def _retry_until_answered(api, tenant, path: str, key: str, *, within: float = 15.0):
    """What a client does after a timeout: the same request and key, honouring 409 + Retry-After."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        response = await api.client.post(path, headers={**tenant.headers, KEY: key})
        body = await response.json(content_type=None)
        if response.status != 409 or body["code"] != "idempotency_key_in_progress":
            return response.status, response.headers, body
        assert asyncio.get_running_loop().time() < deadline, "the dead request's key was never freed"
        await asyncio.sleep(float(response.headers["Retry-After"]) / 10)


@pytest.mark.parametrize("where", ["before its effect", "after its effect, storing the answer"])
async def test_a_replica_killed_during_a_keyed_checkout_leaves_the_key_free_and_the_order_whole(
    api, conn, dsn, where
):
    """SIGKILL while the checkout waits on the order's row lock (nothing done
    yet) or on the key's row (the order already confirmed in its transaction,
    the answer about to be stored): either way the order is still a Draft with
    no execution, the key stores nothing, and a retry with the key checks the
    order out fully."""
    tenant = await api.tenant()
    product = await api.product()
    order = await api.draft(tenant)
    for _ in range(3):
        await api.item(tenant, order["id"], product)
    path = f"/api/orders/{order['id']}/checkout"
    key = f"checkout-{order['id']}"
    hold = order_held(dsn, order["id"]) if where == "before its effect" else _key_held(conn, tenant, key)
    process, url = await serve(dsn)
    try:
        async with aiohttp.ClientSession() as session, hold:
            doomed = asyncio.ensure_future(_post(session, url, path, {**tenant.headers, KEY: key}))
            await waiting_for_locks(conn, 1)
            process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(process.wait, 10)
            with pytest.raises(aiohttp.ClientError):
                await doomed
    finally:
        await stop([process], expect_clean=False)

    assert await conn.fetchval("SELECT status FROM orders WHERE id = $1", order["id"]) == "Draft"
    assert await conn.fetchval("SELECT count(*) FROM executions WHERE order_id = $1", order["id"]) == 0
    status, headers, body = await _retry_until_answered(api, tenant, path, key)
    assert status == 202, body
    assert "Idempotent-Replayed" not in headers
    assert body["status"] == "Pending"
    assert await conn.fetchval("SELECT count(*) FROM executions WHERE order_id = $1", order["id"]) == 3
    checked_out = "SELECT count(*) FROM order_events WHERE order_id = $1 AND type = 'order.checked_out'"
    assert await conn.fetchval(checked_out, order["id"]) == 1
