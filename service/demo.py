"""`serve --demo`: a Standard reseller with a customer, credentials and two
products — one `instant`, one provisioned through the reference connector
running inside the same process — so an order can go from Draft to Completed
on a laptop with nothing else running. A second reseller requires approval
and has two credentials, a clerk who checks out and an approver, to try the
four-eyes flow. Every completed purchase becomes a subscription, which an
order item naming it changes (a new quantity) or cancels; the reference
connector carries out those actions too. The first reseller's events go to a webhook receiver that also
runs in the process and prints each verified delivery; so that the service may
deliver to that loopback address, --demo turns WEBHOOK_ALLOW_PRIVATE_URLS on."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from aiohttp import web

from service.auth import APPROVE, READ, WRITE, Principal
from service.domain.services import Services
from service.execution import connector_sim

RESELLER = "Demo Reseller"
APPROVAL_RESELLER = "Demo Reseller (approval)"
INSTANT_SKU = "DEMO-MAILBOX"
CONNECTOR_SKU = "DEMO-VM"
WEBHOOK_DESCRIPTION = "demo receiver (serve --demo)"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Seeded:
    reseller: dict
    customer_id: int | None
    credentials: dict | None  # only on the start that created the reseller
    approval_reseller: dict
    clerk: dict | None  # orders:read orders:write; only on the start that created them
    approver: dict | None  # orders:read orders:approve
    webhook: dict | None = None  # {"id", "url", "secret"} when a receiver URL was given


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


async def _webhook(services: Services, reseller_id: int, receiver_url: str) -> dict:
    """The demo reseller's webhook, pointed at this start's receiver; its secret for the receiver."""
    db = services.db
    found = await db.fetchrow("demo_webhook_point_at", reseller_id, WEBHOOK_DESCRIPTION, receiver_url)
    if found is not None:
        secret = services.webhooks.secret(found["id"], found["reseller_id"], found["signing_secret"])
        return {"id": found["id"], "url": receiver_url, "secret": secret}
    owner = Principal(client_id="demo", reseller_id=reseller_id, edition="Standard")
    created = await services.webhooks.create(owner, {"url": receiver_url, "description": WEBHOOK_DESCRIPTION})
    return {"id": created["id"], "url": receiver_url, "secret": created["secret"]}


async def seed(services: Services, *, connector_url: str, receiver_url: str | None = None) -> Seeded:
    db, tenancy = services.db, services.tenancy
    async with db.transaction():
        await db.execute("demo_lock")
        for product in _products(connector_url):
            if await db.fetchval("demo_product_point_at", product["sku"], product["fulfillment"]) is None:
                await tenancy.create_product(product)
        # Each reseller is made once; a later start finds it (and its secrets are gone).
        reseller = await db.fetchrow("demo_reseller", RESELLER)
        customer_id = credentials = None
        if reseller is None:
            reseller = await tenancy.create_reseller(name=RESELLER, edition="Standard")
            customer_id = (await tenancy.create_customer(reseller["id"], name="Demo Customer Ltd"))["id"]
            credentials = await tenancy.issue_credentials(reseller["id"])
        approval = await db.fetchrow("demo_reseller", APPROVAL_RESELLER)
        clerk = approver = None
        if approval is None:
            approval = await tenancy.create_reseller(name=APPROVAL_RESELLER, edition="Standard")
            approval = await tenancy.change_reseller(approval["id"], approval_required=True)
            await tenancy.create_customer(approval["id"], name="Four Eyes GmbH")
            clerk = await tenancy.issue_credentials(approval["id"], scopes=(READ, WRITE))
            approver = await tenancy.issue_credentials(approval["id"], scopes=(READ, APPROVE))
        webhook = None if receiver_url is None else await _webhook(services, reseller["id"], receiver_url)
        return Seeded(
            reseller=dict(reseller),
            customer_id=customer_id,
            credentials=credentials,
            approval_reseller=dict(approval),
            clerk=clerk,
            approver=approver,
            webhook=webhook,
        )


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
    """What --demo prints on stdout. The credentials are shell lines, so a script
    (or the README) can take them with `eval "$(grep '^  export ' LOG)"`."""
    base = f"http://localhost:{port}"
    lines = ["", "=== demo ===", f"reseller {seeded.reseller['id']} ({RESELLER}, Standard): checkouts execute at once"]
    if seeded.credentials:
        lines += [
            "  credentials (shown once, keep them; every scope):",
            f"  export CLIENT_ID={seeded.credentials['clientId']}",
            f"  export CLIENT_SECRET={seeded.credentials['clientSecret']}",
        ]
    else:
        lines += [
            "  its credentials were printed on the first --demo start with this DATA_DIR; with",
            f"  ADMIN_TOKEN set, POST /admin/resellers/{seeded.reseller['id']}/credentials issues new ones",
        ]
    lines += [
        "",
        f"reseller {seeded.approval_reseller['id']} ({APPROVAL_RESELLER}): every checkout waits for approval",
    ]
    if seeded.clerk and seeded.approver:
        lines += [
            "  the clerk checks out (orders:read orders:write):",
            f"  export CLERK_ID={seeded.clerk['clientId']}",
            f"  export CLERK_SECRET={seeded.clerk['clientSecret']}",
            "  the approver approves or cancels (orders:read orders:approve):",
            f"  export APPROVER_ID={seeded.approver['clientId']}",
            f"  export APPROVER_SECRET={seeded.approver['clientSecret']}",
        ]
    if seeded.webhook:
        lines += [
            "",
            f"webhook {seeded.webhook['id']} of {RESELLER}: every event goes to the receiver in this process,",
            f"  {seeded.webhook['url']}, which prints each verified delivery below as one JSON line",
            "  (WEBHOOK_ALLOW_PRIVATE_URLS is on under --demo so it may deliver to this loopback address)",
        ]
    lines += [
        "",
        f"products: {INSTANT_SKU} (instant), {CONNECTOR_SKU} (reference connector)",
        "subscriptions: each completed purchase becomes one (GET /api/subscriptions); an order item",
        '  {"subscriptionId": N, "action": "changeQuantity", "quantity": Q} or {"subscriptionId": N,',
        '  "action": "cancel"} changes it when its order completes',
        f"the approver's console: {base}/console; the API's documentation: {base}/api/docs",
        "",
    ]
    return "\n".join(lines)
