"""Arrange rows for execution tests, and fixtures for pollers and connectors.

Rows are inserted with SQL, for speed and control; checkout runs the
product's own checkout statements (`subscriptions_claim`, then the guarded
`order_checkout`, as service.domain.orders does), so the race tests race what
the service runs, not a copy.
"""

from __future__ import annotations

import asyncio
import json
import random
import time

import aiohttp
import asyncpg
import pytest

from service import db
from service.execution import connector_sim
from service.execution.poller import Poller

QUERIES = db.load_queries(db.sql_dir() / "queries")
FINAL = ("Completed", "Partially Completed", "Failed")


async def tenant(conn: asyncpg.Connection) -> tuple[int, int]:
    reseller = await conn.fetchval(
        "INSERT INTO resellers (name, edition) VALUES ('Acme', 'Standard') RETURNING id"
    )
    account = await conn.fetchval(
        "INSERT INTO accounts (reseller_id, name, type) VALUES ($1, 'Acme', 'Reseller') RETURNING id",
        reseller,
    )
    return reseller, account


async def product(conn: asyncpg.Connection, fulfillment: dict, *, sku: str | None = None) -> int:
    sku = sku or f"SKU-{random.getrandbits(40):x}"
    return await conn.fetchval(
        """INSERT INTO products (sku, name, billing_cycles, unit_prices, currency, characteristics, fulfillment)
           VALUES ($1, $1, '{Monthly}', '{"Monthly": "10.00"}', 'USD',
                   '[{"name": "domain", "label": "Domain", "type": "text", "required": false, "options": []}]', $2)
           RETURNING id""",
        sku,
        json.dumps(fulfillment),
    )


async def draft(
    conn: asyncpg.Connection, tenancy: tuple[int, int], products: list[int], *, expires_in_days: int = 7
) -> tuple[int, list[int]]:
    reseller, account = tenancy
    order = await conn.fetchval(
        """INSERT INTO orders (reseller_id, account_id, order_date, expiration_date, currency)
           VALUES ($1, $2, current_date, current_date + $3::int, 'USD') RETURNING id""",
        reseller,
        account,
        expires_in_days,
    )
    items = []
    for product_id in products:
        items.append(
            await conn.fetchval(
                """INSERT INTO order_items (order_id, reseller_id, product_id, sku, product_name, quantity,
                                            billing_cycle, unit_price, total_price, currency, characteristics)
                   SELECT $1, $2, id, sku, name, 2, 'Monthly', 10.00, 20.00, 'USD', '{"domain": "example.com"}'
                   FROM products WHERE id = $3 RETURNING id""",
                order,
                reseller,
                product_id,
            )
        )
    return order, items


async def checkout(conn: asyncpg.Connection, order: int, *, deadline_seconds: float = 900) -> bool:
    """Check the order out with the service's own statements, in one transaction: the
    claim of every subscription its change items name (none for purchases), then the
    guarded order_checkout (its status must still be Draft). Whether this call won; an
    order already gone, or a subscription another checkout holds, loses and changes nothing."""
    reseller = await conn.fetchval("SELECT reseller_id FROM orders WHERE id = $1", order)
    if reseller is None:
        return False
    transaction = conn.transaction()
    await transaction.start()
    try:
        claims = await conn.fetch(QUERIES["subscriptions_claim"], order, reseller)
        confirmed = all(row["claimed"] for row in claims) and await conn.fetchrow(
            QUERIES["order_checkout"], order, reseller, float(deadline_seconds), "test-submitter", True
        )
    except BaseException:
        await transaction.rollback()
        raise
    if not confirmed:
        await transaction.rollback()
        return False
    await transaction.commit()
    return True


async def checked_out(conn, tenancy, products, **kwargs) -> tuple[int, list[int]]:
    order, items = await draft(conn, tenancy, products)
    assert await checkout(conn, order, **kwargs)
    return order, items


async def order_row(conn: asyncpg.Connection, order: int) -> asyncpg.Record:
    return await conn.fetchrow("SELECT * FROM orders WHERE id = $1", order)


async def executions(conn: asyncpg.Connection, order: int) -> dict[int, asyncpg.Record]:
    rows = await conn.fetch("SELECT * FROM executions WHERE order_id = $1 ORDER BY item_id", order)
    return {row["item_id"]: row for row in rows}


async def external_id(conn: asyncpg.Connection, row: asyncpg.Record) -> str | None:
    """The connector's id of the subscription an execution record names (ours, as text)."""
    assert row["subscription_id"] is not None, dict(row)
    return await conn.fetchval(
        "SELECT external_id FROM subscriptions WHERE id = $1::text::bigint AND item_id = $2",
        row["subscription_id"],
        row["item_id"],
    )


async def run_until_final(pollers, conn, order: int, *, within: float = 15.0) -> asyncpg.Record:
    """Tick every poller together until the order is final; fail after `within` seconds."""
    pollers = pollers if isinstance(pollers, list) else [pollers]
    started = time.monotonic()
    while time.monotonic() - started < within:
        await asyncio.gather(*(p.run_once() for p in pollers))
        row = await order_row(conn, order)
        if row["status"] in FINAL:
            return row
        await asyncio.sleep(0.02)
    raise AssertionError(f"order {order} is still {row['status']!r} after {within}s")


@pytest.fixture
async def pool(dsn):
    pool = await db.create_pool(dsn, max_size=20)
    yield pool
    await pool.close()


@pytest.fixture
async def session():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1, connect=1)) as session:
        yield session


@pytest.fixture
def make_poller(pool, session):
    def make(*, queries=QUERIES, concurrency: int = 10, lease_seconds: float = 30.0) -> Poller:
        return Poller(
            db=db.Database(pool=pool, queries=queries),
            session=session,
            lease_seconds=lease_seconds,
            concurrency=concurrency,
            retry_base_seconds=0.05,
            retry_max_seconds=0.2,
            rng=random.Random(7),
        )

    return make


@pytest.fixture
def simulator(aiohttp_server):
    """Start a connector-sim in this process; returns (base url, its Simulator)."""

    async def start(**options) -> tuple[str, connector_sim.Simulator]:
        options.setdefault("delay", 0.0)
        app = connector_sim.create_app(**options)
        server = await aiohttp_server(app, host="127.0.0.1")
        return str(server.make_url("")).rstrip("/"), app[connector_sim.SIMULATOR]

    return start


@pytest.fixture
def fake_connector(aiohttp_server):
    """A connector answering with the given handlers: fake_connector(post=..., get=...)."""
    from aiohttp import web

    async def start(*, post, get=None) -> str:
        app = web.Application()
        app.router.add_post("/provisioning", post)
        if get is not None:
            app.router.add_get("/provisioning/{operation_id}", get)
        server = await aiohttp_server(app, host="127.0.0.1")
        return str(server.make_url("")).rstrip("/")

    return start


async def stats(session: aiohttp.ClientSession, url: str) -> dict:
    async with session.get(f"{url}/stats") as response:
        return await response.json()
