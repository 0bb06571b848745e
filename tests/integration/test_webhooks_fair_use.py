"""Webhooks under the fair-use rules: at most WEBHOOKS_PER_RESELLER, even for creates
racing each other, and no database connection held while a URL's host is resolved."""

from __future__ import annotations

import asyncio
import dataclasses
import socket

import asyncpg
from aiohttp.abc import AbstractResolver

from service.app import create_app
from service.state import QUERIES, WEBHOOK_RESOLVER
from tests.api import Api
from tests.locks import waiting_for_locks
from tests.webhook_support import PUBLIC_IP, FakeResolver, fast, subscribe

HOOK = "http://127.0.0.1:9/hooks"
RACERS = 12
LIMIT = 3
# With the lock, each create waits a moment before its count and insert, so racing creates
# would overlap if the lock let them: they wait in turn (0.2 s each).
SLOW_LOCK = "WITH locked AS ({lock}) SELECT pg_sleep(0.2) FROM locked"
# Without it, the control: every create waits at a gate (an advisory lock the test holds) in
# place of the lock, and the test opens the gate once more than LIMIT wait there, so their counts
# and inserts run side by side however loaded the machine is. (A sleep in its place did not
# line them up: creates that began their transactions a few milliseconds apart counted each
# other's rows.)
GATE = 7_300_013
NO_LOCK = f"SELECT pg_advisory_xact_lock_shared({GATE}) WHERE $1::bigint IS NOT NULL"


async def _app_api(aiohttp_client, settings, dsn, lock: str | None = None) -> Api:
    app = create_app(fast(settings, webhooks_per_reseller=LIMIT), dsn=dsn)
    if lock is not None:
        real = app[QUERIES]["webhook_quota_lock"]
        app[QUERIES] = {**app[QUERIES], "webhook_quota_lock": lock.format(lock=real)}
    return Api(await aiohttp_client(app))


async def _race(api: Api) -> tuple[list[int], int]:
    tenant = await api.tenant()
    answers = await asyncio.gather(
        *(api.call(tenant, "POST", "/api/webhooks", {"url": HOOK}) for _ in range(RACERS))
    )
    for status, body in answers:
        assert status in (201, 409), body
        if status == 409:
            assert body["code"] == "webhook_limit_reached"
    _, page = await api.call(tenant, "GET", "/api/webhooks?pageSize=200")
    return [status for status, _ in answers], len(page["items"])


async def test_a_reseller_has_at_most_its_limit_of_webhooks_and_may_delete_to_add(webhook_api):
    api = await webhook_api(webhooks_per_reseller=2)
    tenant = await api.tenant()
    other = await api.tenant(name="Other Cloud")
    first = await subscribe(api, tenant, HOOK)
    await subscribe(api, tenant, HOOK)
    status, problem = await api.call(tenant, "POST", "/api/webhooks", {"url": HOOK})
    assert (status, problem["code"]) == (409, "webhook_limit_reached")
    assert "2" in problem["detail"]
    await subscribe(api, other, HOOK)  # per reseller
    assert (await api.call(tenant, "DELETE", f"/api/webhooks/{first['id']}"))[0] == 204
    await subscribe(api, tenant, HOOK)


async def test_creates_racing_each_other_never_pass_the_limit(aiohttp_client, settings, dsn):
    statuses, kept = await _race(await _app_api(aiohttp_client, settings, dsn, SLOW_LOCK))
    assert statuses.count(201) == LIMIT and kept == LIMIT


async def test_without_the_reseller_lock_racing_creates_pass_the_limit(aiohttp_client, settings, dsn, conn):
    """The control: the same race with the lock taken out of webhook_quota_lock."""
    api = await _app_api(aiohttp_client, settings, dsn, NO_LOCK)
    gate = await asyncpg.connect(dsn)
    try:
        await gate.execute("SELECT pg_advisory_lock($1)", GATE)
        race = asyncio.ensure_future(_race(api))
        await waiting_for_locks(conn, LIMIT + 1)
    finally:
        await gate.close()  # the gate opens: they count and insert together
    statuses, kept = await race
    assert kept > LIMIT and statuses.count(201) == kept


class _Waiting(AbstractResolver):
    """Answers a public address once released; counts who is waiting."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()
        self.release = asyncio.Event()

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):
        self.waiting.set()
        await self.release.wait()
        return await FakeResolver({host: [PUBLIC_IP]}).resolve(host, port, family)

    async def close(self) -> None:
        pass


async def test_a_keyed_create_resolves_its_url_before_it_takes_a_connection(
    aiohttp_client, settings, dsn, conn
):
    resolver = _Waiting()
    app = create_app(dataclasses.replace(settings, webhook_allow_private_urls=False), dsn=dsn)
    app[WEBHOOK_RESOLVER] = resolver
    api = Api(await aiohttp_client(app))
    tenant = await api.tenant()
    headers = {**tenant.headers, "Idempotency-Key": "hook-1"}
    body = {"url": "https://hooks.example.com/h"}
    created = asyncio.ensure_future(api.client.post("/api/webhooks", json=body, headers=headers))
    async with asyncio.timeout(5):
        await resolver.waiting.wait()
    # While the host is being resolved, no session of the service sits in a transaction.
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    open_transactions = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = 'reseller-ordering' AND state LIKE 'idle in transaction%'"
    )
    resolver.release.set()
    response = await created
    assert response.status == 201, await response.text()
    assert open_transactions == 0
    # A repeat is a replay of the stored answer (its URL is resolved again, holding no connection).
    again = await api.client.post("/api/webhooks", json=body, headers=headers)
    assert (again.status, again.headers["Idempotent-Replayed"]) == (201, "true")
    assert (await again.json())["id"] == (await response.json())["id"]
