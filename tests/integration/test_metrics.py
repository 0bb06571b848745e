"""GET /metrics: every contract metric present, and each one moves when what it counts happens."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from service.app import create_app
from service.metrics import CONTENT_TYPE
from service.state import DATABASE, DRAFT_EXPIRY, METRICS, POOL
from tests.api import Api
from tests.execution_support import checked_out, draft, order_row, product, tenant
from tests.metrics_support import Scrape
from tests.webhook_support import eventually, subscribe

CONTRACT = (
    "http_requests_total",
    "http_request_duration_seconds_bucket",
    "db_pool_connections",
    "order_items_executing",
    "execution_oldest_pending_age_seconds",
    "scheduler_job_runs_total",
    "drafts_expired_total",
    "webhook_deliveries_total",
    "webhook_oldest_pending_age_seconds",
    "rate_limited_total",
    "events_feed_horizon_lag_seconds",
)


async def scrape(client, **headers: str) -> Scrape:
    response = await client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == CONTENT_TYPE
    return Scrape(await response.text())


@pytest.fixture
def app_with(dsn, settings, aiohttp_client):
    async def make(**changes):
        return await aiohttp_client(create_app(dataclasses.replace(settings, **changes), dsn=dsn))

    return make


async def test_every_contract_metric_is_there_from_the_start(client):
    assert (await client.get("/health/live")).status == 200  # a request's series appear with it
    found = await scrape(client)
    assert set(CONTRACT) <= found.names
    assert {labels["state"] for labels in found.labels_of("db_pool_connections")} == {"in_use", "idle"}
    assert {labels["status"] for labels in found.labels_of("order_items_executing")} == {
        "Pending",
        "In Progress",
    }
    assert {labels["outcome"] for labels in found.labels_of("webhook_deliveries_total")} == {
        "succeeded",
        "retrying",
        "failed",
    }


async def test_requests_are_counted_by_route_template_never_by_raw_id(client, api):
    tenant_ = await api.tenant()
    first, second = await api.draft(tenant_), await api.draft(tenant_)
    for order in (first, second):
        assert (await api.call(tenant_, "GET", f"/api/orders/{order['id']}"))[0] == 200
    assert (await api.call(tenant_, "GET", "/api/orders/987654321"))[0] == 404
    assert (await client.get("/no/such/987654321")).status == 404
    found = await scrape(client)
    route = "/api/orders/{order_id}"
    assert found.value("http_requests_total", method="GET", route=route, status="200") == 2
    assert found.value("http_requests_total", method="GET", route=route, status="404") == 1
    assert found.value("http_requests_total", method="POST", route="/api/orders", status="201") == 2
    assert found.value("http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert found.value("http_request_duration_seconds_count", method="GET", route=route) == 3
    assert found.value("http_request_duration_seconds_bucket", method="GET", route=route, le="+Inf") == 3
    assert found.value("http_request_duration_seconds_sum", method="GET", route=route) > 0
    for raw in (str(first["id"]), "987654321"):
        assert f"/{raw}" not in found.text
    # The scrape itself is counted by the next one.
    again = await scrape(client)
    assert again.value("http_requests_total", method="GET", route="/metrics", status="200") == 1


async def test_the_pool_gauge_reads_the_pool(client):
    pool = client.app[POOL]
    held = await pool.acquire()
    try:
        busy = await scrape(client)
    finally:
        await pool.release(held)
    assert busy.value("db_pool_connections", state="in_use") >= 1
    idle = await scrape(client)
    assert idle.value("db_pool_connections", state="in_use") == 0
    assert idle.value("db_pool_connections", state="idle") >= 1


async def test_execution_gauges_count_unfinished_items_and_age_the_oldest_due(app_with, conn):
    client = await app_with(scheduler_enabled=False)
    tenancy = await tenant(conn)
    instant = await product(conn, {"type": "instant"})
    order, items = await checked_out(conn, tenancy, [instant, instant, instant])
    await conn.execute(
        "UPDATE executions SET status = 'In Progress', next_attempt_at = now() - interval '90 seconds' "
        "WHERE item_id = $1",
        items[0],
    )
    await conn.execute(
        "UPDATE executions SET next_attempt_at = now() + interval '1 hour' WHERE item_id = $1", items[1]
    )
    found = await scrape(client)
    assert found.value("order_items_executing", status="Pending") == 2
    assert found.value("order_items_executing", status="In Progress") == 1
    assert 90 <= found.value("execution_oldest_pending_age_seconds") < 120


async def test_the_backlog_query_runs_at_most_once_per_few_seconds_whatever_the_scrape_rate(client):
    database = client.app[DATABASE]
    ran = []
    original = database.fetchrow

    async def counting(name, *args):
        ran.append(name)
        return await original(name, *args)

    database.fetchrow = counting
    for _ in range(20):
        await scrape(client)
    assert ran.count("metrics_execution_backlog") == 1


async def test_job_runs_and_deleted_drafts_are_counted(app_with, conn):
    client = await app_with(poll_interval_seconds=0.1, expire_interval_seconds=0.1)
    tenancy = await tenant(conn)
    instant = await product(conn, {"type": "instant"})
    expired = [(await draft(conn, tenancy, [instant], expires_in_days=-1))[0] for _ in range(3)]
    deadline = time.monotonic() + 10
    while any([await order_row(conn, order) for order in expired]):
        assert time.monotonic() < deadline, "the expiry job did not run"
        await asyncio.sleep(0.05)
    found = await scrape(client)
    while not found.value("scheduler_job_runs_total", job="poll_executions", outcome="ok"):
        assert time.monotonic() < deadline, "the poll job did not run"
        await asyncio.sleep(0.05)
        found = await scrape(client)
    assert found.value("drafts_expired_total") == 3
    assert found.value("scheduler_job_runs_total", job="expire_drafts", outcome="ok") >= 1
    assert found.value("scheduler_job_runs_total", job="expire_drafts", outcome="error") == 0

    class Down:
        async def fetchval(self, *args):
            raise ConnectionRefusedError(111, "Connection refused")

    client.app[DRAFT_EXPIRY]._db = Down()
    await asyncio.sleep(0.5)
    failed = await scrape(client)
    assert failed.value("scheduler_job_runs_total", job="expire_drafts", outcome="error") >= 1


async def test_429s_are_counted_both_for_the_api_limit_and_the_token_brake(app_with):
    client = await app_with(rate_limit_per_minute=3)
    api = Api(client)
    tenant_ = await api.tenant()
    statuses = [(await api.call(tenant_, "GET", "/api/accounts"))[0] for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    guess = {"Authorization": "Basic cm9fZ3Vlc3M6eA=="}  # ro_guess:x
    for _ in range(11):
        await client.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=guess)
    assert (await scrape(client)).value("rate_limited_total") == 3


async def test_real_webhook_deliveries_move_their_metrics(webhook_api, receiver):
    """The scheduler wires the sender to webhook_deliveries_total and its backlog to the age gauge."""
    url, inbox = await receiver()
    api = await webhook_api()
    tenant_ = await api.tenant()
    await subscribe(api, tenant_, url, eventTypes=["order.created"])
    await api.draft(tenant_)
    await eventually(lambda: asyncio.sleep(0, len(inbox.received) == 1))
    found = await eventually(
        lambda: _when(scrape(api.client), lambda f: f.value("webhook_deliveries_total", outcome="succeeded") == 1)
    )
    assert found.value("webhook_deliveries_total", outcome="failed") == 0
    assert found.value("webhook_oldest_pending_age_seconds") == 0


async def _when(scraped, condition):
    found = await scraped
    return found if condition(found) else None


async def test_with_a_metrics_token_only_its_bearer_may_scrape(app_with):
    client = await app_with(metrics_token="scrape-me")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic c2NyYXBlLW1l"}):
        response = await client.get("/metrics", headers=headers)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "http_requests_total" in (await scrape(client, Authorization="Bearer scrape-me")).names


async def test_metrics_can_be_turned_off(app_with):
    client = await app_with(metrics_enabled=False)
    assert (await client.get("/health/live")).status == 200
    response = await client.get("/metrics")
    assert response.status == 404
    assert client.app[METRICS] is None


async def test_the_feeds_horizon_lag_shows_how_long_an_old_transaction_has_held_events_back(
    client, api, dsn
):
    import asyncpg

    async def lag() -> float:
        client.app[METRICS]._db_fresh_until = 0.0  # read again now, not within the gauge's TTL
        return (await scrape(client)).value("events_feed_horizon_lag_seconds")

    tenant_ = await api.tenant()
    await api.draft(tenant_)
    assert await lag() == 0  # nothing held back
    older = await asyncpg.connect(dsn)
    transaction = older.transaction()
    await transaction.start()
    try:
        await older.fetchval("SELECT pg_current_xact_id()")  # from now on it holds the horizon
        assert await lag() == 0  # it holds the horizon, but no event waits behind it yet
        await api.draft(tenant_)  # committed, and held back
        await asyncio.sleep(1.2)
        held = await lag()
        assert 1.0 <= held < 30, held
        _, page = await api.call(tenant_, "GET", "/api/events?pageSize=200")
        assert len(page["items"]) == 1  # what the reseller sees meanwhile: the first order only
    finally:
        await transaction.commit()
        await older.close()
    assert await lag() == 0
