"""`serve --demo`: a Standard reseller with a customer, credentials and two
products — one `instant`, one provisioned through the reference connector
running inside the same process — so an order can go from Draft to Completed
on a laptop with nothing else running."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal

import asyncpg
from aiohttp import web

from service.domain import tenancy
from service.execution import connector_sim

RESELLER = "Demo Reseller"
INSTANT_SKU = "DEMO-MAILBOX"
CONNECTOR_SKU = "DEMO-VM"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Seeded:
    reseller: dict
    customer_id: int | None
    credentials: dict | None  # only on the start that created the reseller


def _products(connector_url: str) -> list[dict]:
    return [
        {
            "sku": INSTANT_SKU,
            "name": "Mailbox 50 GB",
            "billingCycles": ["Monthly", "Annually"],
            "unitPrices": {"Monthly": Decimal("4.00"), "Annually": Decimal("40.00")},
            "currency": "EUR",
            "characteristics": [],
            "fulfillment": {"type": "instant"},
        },
        {
            "sku": CONNECTOR_SKU,
            "name": "Virtual machine 2 vCPU",
            "billingCycles": ["Monthly"],
            "unitPrices": {"Monthly": Decimal("25.00")},
            "currency": "EUR",
            "characteristics": [
                {"name": "hostname", "label": "Host name", "type": "text", "required": True, "options": []},
            ],
            "fulfillment": {"type": "http", "url": connector_url},
        },
    ]


async def seed(pool: asyncpg.Pool, q: Mapping[str, str], *, connector_url: str) -> Seeded:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(q["demo_lock"])
        for product in _products(connector_url):
            if (
                await conn.fetchval(q["demo_product_point_at"], product["sku"], product["fulfillment"])
                is None
            ):
                await tenancy.create_product(conn, q, product)
        existing = await conn.fetchrow(q["demo_reseller"], RESELLER)
        if existing is not None:
            return Seeded(reseller=dict(existing), customer_id=None, credentials=None)
        reseller = await tenancy.create_reseller(conn, q, name=RESELLER, edition="Standard")
        customer = await tenancy.create_customer(conn, q, reseller["id"], name="Demo Customer Ltd")
        credentials = await tenancy.issue_credentials(conn, q, reseller["id"])
        return Seeded(reseller=reseller, customer_id=customer["id"], credentials=credentials)


async def start_connector(*, delay: float) -> tuple[web.AppRunner, str]:
    """The reference connector on a free loopback port, inside this process."""
    runner = web.AppRunner(
        connector_sim.create_app(delay=delay, seed=7), access_log=None, handle_signals=False
    )
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


def banner(seeded: Seeded, *, port: int) -> str:
    base = f"http://localhost:{port}"
    lines = ["", "=== demo ===", f"reseller {seeded.reseller['id']} ({RESELLER}, Standard)"]
    if seeded.credentials:
        lines += [
            "credentials (shown once, keep them):",
            f"  CLIENT_ID={seeded.credentials['clientId']}",
            f"  CLIENT_SECRET={seeded.credentials['clientSecret']}",
        ]
    else:
        lines += [
            "credentials were printed on the first --demo start; ADMIN_TOKEN and",
            f"  POST /admin/resellers/{seeded.reseller['id']}/credentials issue new ones",
        ]
    lines += [
        f"products: {INSTANT_SKU} (instant), {CONNECTOR_SKU} (reference connector)",
        f"try the README's demo walk-through against {base}",
        "",
    ]
    return "\n".join(lines)
