"""One tenant never holds back another (the contract's v3.2 section): a reseller's
requests stuck behind a held row end within seconds with 409 order_busy or 503
database_busy, while another reseller's reads keep answering at once."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from service.app import create_app
from service.state import DATABASE, POOL
from tests.api import Api
from tests.locks import order_held, waiting_for_locks

STUCK = 24


@pytest.fixture
async def fair(dsn, settings, aiohttp_client):
    """fair(**settings changes) -> (Api, app): an app of its own, defaults unless changed."""

    async def start(**changes):
        app = create_app(dataclasses.replace(settings, **changes), dsn=dsn)
        return Api(await aiohttp_client(app)), app

    return start


async def _timed(api: Api, tenant, method: str, path: str, body=None, headers=None):
    started = time.monotonic()
    response = await api.client.request(method, path, json=body, headers={**tenant.headers, **(headers or {})})
    payload = await response.json(content_type=None) if response.status != 204 else None
    return response.status, payload, response.headers, time.monotonic() - started


async def _stuck_and_other(api: Api, app, dsn) -> tuple[list, list]:
    """Hold A's order; fire 24 changes to it from A and, meanwhile, reads of B's
    own order from B; return both sets of answers."""
    a = await api.tenant(name="Stuck Cloud")
    b = await api.tenant(name="Other Cloud")
    product = await api.product()
    order = await api.draft(a)
    theirs = await api.draft(b)
    body = {"productId": product["id"], "quantity": 1, "billingCycle": "Monthly"}
    async with order_held(dsn, order["id"]) as holder:
        changes = [
            asyncio.create_task(_timed(api, a, "POST", f"/api/orders/{order['id']}/items", body))
            for _ in range(STUCK)
        ]
        # A's share of the pool is now taken by changes waiting for the row.
        await waiting_for_locks(holder, app[DATABASE].share)
        reads = []
        for _ in range(10):
            reads.append(await _timed(api, b, "GET", f"/api/orders/{theirs['id']}"))
            await asyncio.sleep(0.1)
        stuck = await asyncio.gather(*changes)
    return stuck, reads


async def test_a_held_order_holds_back_its_own_reseller_only_and_for_seconds(fair, dsn, conn):
    api, app = await fair()
    stuck, reads = await _stuck_and_other(api, app, dsn)

    for status, body, _, took in reads:
        assert status == 200, body
        assert took < 1.0, f"another reseller's read took {took:.2f} s"
    codes = {}
    for status, body, headers, took in stuck:
        assert (status, body["code"]) in ((409, "order_busy"), (503, "database_busy")), body
        assert int(headers["Retry-After"]) >= 1
        assert took < 12.0, f"a stuck request took {took:.2f} s"
        codes[body["code"]] = codes.get(body["code"], 0) + 1
    # Both answers happened: some waited for the row, the rest for their share.
    assert set(codes) == {"order_busy", "database_busy"}, codes
    # Nothing of the refused changes was applied.
    assert await conn.fetchval("SELECT count(*) FROM order_items") == 0


async def test_without_the_share_one_resellers_stuck_requests_hold_back_the_other(fair, dsn):
    """The control: with one reseller allowed the whole pool, its stuck changes take every
    connection and the other reseller's reads wait for the lock timeout."""
    api, app = await fair()
    app[DATABASE].share = app[POOL].get_max_size()
    _, reads = await _stuck_and_other(api, app, dsn)
    assert max(took for *_, took in reads) > 1.0 or any(status != 200 for status, *_ in reads)


async def test_a_change_waiting_for_a_held_order_is_409_order_busy_and_its_key_is_free(fair, dsn, conn):
    api, _ = await fair(lock_timeout_seconds=0.5)
    tenant = await api.tenant()
    product = await api.product()
    order = await api.draft(tenant)
    body = {"productId": product["id"], "quantity": 1, "billingCycle": "Monthly"}
    key = {"Idempotency-Key": "add-one"}
    async with order_held(dsn, order["id"]):
        status, problem, headers, took = await _timed(
            api, tenant, "POST", f"/api/orders/{order['id']}/items", body, key
        )
    assert (status, problem["code"], headers["Retry-After"]) == (409, "order_busy", "1")
    assert took < 5
    assert "Idempotent-Replayed" not in headers
    assert await conn.fetchval("SELECT count(*) FROM order_items WHERE order_id = $1", order["id"]) == 0
    # The key is free: the same request runs now, once.
    status, item, headers, _ = await _timed(api, tenant, "POST", f"/api/orders/{order['id']}/items", body, key)
    assert status == 201 and "Idempotent-Replayed" not in headers, item
    status, again, headers, _ = await _timed(api, tenant, "POST", f"/api/orders/{order['id']}/items", body, key)
    assert (status, again["id"], headers["Idempotent-Replayed"]) == (201, item["id"], "true")


async def test_past_its_share_a_resellers_request_waits_then_is_503_database_busy(fair, dsn):
    api, app = await fair(db_pool_max_size=4, db_acquire_timeout_seconds=0.5, lock_timeout_seconds=3.0)
    assert app[DATABASE].share == 2
    tenant = await api.tenant()
    other = await api.tenant(name="Other Cloud")
    product = await api.product()
    order = await api.draft(tenant)
    body = {"productId": product["id"], "quantity": 1, "billingCycle": "Monthly"}
    async with order_held(dsn, order["id"]) as holder:
        held = [
            asyncio.create_task(_timed(api, tenant, "POST", f"/api/orders/{order['id']}/items", body))
            for _ in range(2)
        ]
        await waiting_for_locks(holder, 2)
        # Its share is taken: even a read of its own waits, and gives up after the acquire timeout.
        status, problem, headers, took = await _timed(api, tenant, "GET", f"/api/orders/{order['id']}")
        assert (status, problem["code"]) == (503, "database_busy")
        assert int(headers["Retry-After"]) >= 1 and 0.4 < took < 3
        # The other reseller's share is untouched.
        status, _, _, took = await _timed(api, other, "GET", "/api/orders")
        assert status == 200 and took < 1
        await asyncio.gather(*held)


async def test_the_pool_sessions_carry_the_lock_and_idle_transaction_timeouts(fair):
    _, app = await fair(lock_timeout_seconds=1.5, idle_in_transaction_timeout_seconds=2)
    async with app[POOL].acquire() as conn:
        assert await conn.fetchval("SHOW lock_timeout") == "1500ms"
        assert await conn.fetchval("SHOW idle_in_transaction_session_timeout") == "2s"


async def test_a_transaction_of_ours_left_idle_is_ended_by_the_server(fair):
    from service import db

    _, app = await fair(idle_in_transaction_timeout_seconds=1)
    database = app[DATABASE]
    with pytest.raises(db.UNAVAILABLE_ERRORS):
        async with database.transaction() as conn:
            await conn.fetchval("SELECT pg_current_xact_id()")
            await asyncio.sleep(1.5)  # idle in transaction: the server ends the session
            await conn.fetchval("SELECT 1")
    # The pool serves on with a fresh connection.
    assert await database.fetchval("live_ping") == 1
