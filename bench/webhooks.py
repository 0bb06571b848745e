"""The webhooks scenario: deliveries per second to a local receiver, and the lag
from an order's status change to its delivery.

A receiver in the harness's process (aiohttp, 127.0.0.1) records when each
delivery arrives. A reseller of its own (made through the operator API, so no
other scenario's data is touched) subscribes it through the real API; the
service runs with its defaults (WEBHOOK_POLL_INTERVAL_SECONDS=1) except
WEBHOOK_ALLOW_PRIVATE_URLS=true, which a loopback receiver needs.

1. lag: orders go Draft -> item -> checkout through the API at a steady rate,
   and the poll job completes them; each `order.checked_out` and
   `order.status_changed` delivery's arrival minus the event's `occurredAt`
   (its transaction's start) is its lag, reported as p50 / p99;
2. throughput: a backlog of events is written at once (one COPY, one commit)
   for a reseller with several endpoints; deliveries per second is deliveries
   over the time from that commit to the last arrival. Every endpoint is sent
   at most WEBHOOK_ENDPOINT_CONCURRENCY (4) at a time, so the endpoint count
   is part of the figure.
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import time
from datetime import datetime

import aiohttp
import asyncpg
from aiohttp import web

logger = logging.getLogger("bench")
ENDPOINTS = 4
LAG_TYPES = ["order.checked_out", "order.status_changed"]


class Inbox:
    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = {}  # path -> arrival times
        self.lags: list[float] = []

    async def handle(self, request: web.Request) -> web.Response:
        arrived = time.time()
        body = await request.read()
        self.arrivals.setdefault(request.path, []).append(arrived)
        if request.path == "/lag":
            occurred = json.loads(body)["occurredAt"]
            self.lags.append(arrived - datetime.fromisoformat(occurred).timestamp())
        return web.Response(status=204)

    def count(self) -> int:
        return sum(len(times) for path, times in self.arrivals.items() if path != "/lag")


async def _reseller(session: aiohttp.ClientSession, url: str, admin_token: str) -> tuple[int, int, str]:
    """(reseller id, its own account id, an access token)."""
    admin = {"Authorization": f"Bearer {admin_token}"}
    async with session.post(
        f"{url}/admin/resellers", json={"name": "Webhook bench", "edition": "Standard"}, headers=admin
    ) as response:
        reseller = await response.json()
    async with session.post(f"{url}/admin/resellers/{reseller['id']}/credentials", headers=admin) as response:
        creds = await response.json()
    async with session.post(
        f"{url}/oauth/token",
        auth=aiohttp.BasicAuth(creds["clientId"], creds["clientSecret"]),
        data={"grant_type": "client_credentials"},
    ) as response:
        token = (await response.json())["access_token"]
    return reseller["id"], reseller["accountId"], token


async def _subscribe(session, url: str, token: str, target: str, types: list[str] | None) -> None:
    body = {"url": target, **({"eventTypes": types} if types else {})}
    async with session.post(
        f"{url}/api/webhooks", json=body, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        if response.status != 201:
            raise RuntimeError(f"POST /api/webhooks: HTTP {response.status}: {await response.text()}")


async def _order(session, url: str, headers: dict, account_id: int, product_id: int) -> None:
    async with session.post(f"{url}/api/orders", json={"accountId": account_id}, headers=headers) as response:
        order = await response.json()
    item = {"productId": product_id, "quantity": 1, "billingCycle": "Monthly"}
    async with session.post(f"{url}/api/orders/{order['id']}/items", json=item, headers=headers) as response:
        await response.read()
    async with session.post(f"{url}/api/orders/{order['id']}/checkout", headers=headers) as response:
        await response.read()


async def _lag(
    session,
    url: str,
    receiver: str,
    inbox: Inbox,
    *,
    admin_token: str,
    product_id: int,
    seconds: float,
    rate: float,
) -> dict:
    _, account_id, token = await _reseller(session, url, admin_token)
    await _subscribe(session, url, token, f"{receiver}/lag", LAG_TYPES)
    headers = {"Authorization": f"Bearer {token}"}
    orders = int(seconds * rate)
    started = time.monotonic()
    for n in range(orders):
        await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        await _order(session, url, headers, account_id, product_id)
    # Each order: checked out, then Pending -> Completed when the poll job runs (every 5 s by default).
    expected = 2 * orders
    deadline = time.monotonic() + 60
    while len(inbox.lags) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    lags = sorted(inbox.lags)
    return {
        "orders": orders,
        "rate_per_second": rate,
        "deliveries": len(lags),
        "expected": expected,
        "lag_p50_ms": round(1000 * statistics.median(lags), 1) if lags else None,
        "lag_p99_ms": round(1000 * lags[min(len(lags) - 1, int(0.99 * len(lags)))], 1) if lags else None,
        "lag_max_ms": round(1000 * lags[-1], 1) if lags else None,
    }


async def _throughput(
    session, url: str, receiver: str, inbox: Inbox, conn: asyncpg.Connection, *, admin_token: str, events: int
) -> dict:
    reseller_id, account_id, token = await _reseller(session, url, admin_token)
    for n in range(ENDPOINTS):
        await _subscribe(session, url, token, f"{receiver}/burst/{n}", None)
    records = [(reseller_id, n + 1, account_id, "order.created", "system", "{}") for n in range(events)]
    await conn.copy_records_to_table(
        "order_events",
        records=records,
        columns=("reseller_id", "order_id", "account_id", "type", "actor_type", "data"),
    )
    committed = time.time()
    expected = events * ENDPOINTS
    deadline = time.monotonic() + max(120.0, expected / 50)
    while inbox.count() < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    arrivals = [t for path, times in inbox.arrivals.items() if path != "/lag" for t in times]
    seconds = (max(arrivals) - committed) if arrivals else None
    return {
        "events": events,
        "endpoints": ENDPOINTS,
        "deliveries": len(arrivals),
        "expected": expected,
        "seconds": round(seconds, 2) if seconds else None,
        "deliveries_per_second": round(len(arrivals) / seconds) if seconds else None,
        "first_arrival_ms": round(1000 * (min(arrivals) - committed), 1) if arrivals else None,
    }


async def measure(
    url: str,
    conn: asyncpg.Connection,
    *,
    admin_token: str,
    product_id: int,
    events: int,
    lag_seconds: float,
    lag_rate: float = 10.0,
) -> dict:
    inbox = Inbox()
    app = web.Application()
    app.router.add_post("/{tail:.*}", inbox.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as session:
            lag = await _lag(
                session,
                url,
                receiver,
                inbox,
                admin_token=admin_token,
                product_id=product_id,
                seconds=lag_seconds,
                rate=lag_rate,
            )
            logger.info(
                "webhooks: lag p50 %s ms, p99 %s ms over %d deliveries",
                lag["lag_p50_ms"],
                lag["lag_p99_ms"],
                lag["deliveries"],
            )
            burst = await _throughput(
                session, url, receiver, inbox, conn, admin_token=admin_token, events=events
            )
            logger.info(
                "webhooks: %s deliveries in %s s: %s/s",
                burst["deliveries"],
                burst["seconds"],
                burst["deliveries_per_second"],
            )
    finally:
        await runner.cleanup()
    return {"lag": lag, "throughput": burst}


def markdown(result: dict) -> list[str]:
    lag, burst = result["lag"], result["throughput"]
    return [
        "",
        "| webhooks | measured |",
        "|---|---|",
        (
            f"| deliveries per second ({burst['events']:,} events × {burst['endpoints']} endpoints, "
            f"local receiver) | {burst['deliveries_per_second'] or '—'} ({burst['deliveries']:,} of "
            f"{burst['expected']:,} in {burst['seconds'] or '—'} s) |"
        ),
        (
            f"| lag, status change to delivery, p50 / p99 ({lag['deliveries']:,} deliveries, "
            f"{lag['rate_per_second']:g} orders/s) | {lag['lag_p50_ms']} / {lag['lag_p99_ms']} ms |"
        ),
    ]
