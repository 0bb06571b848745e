"""A client generated from the served document is clean and typed, errors included.

openapi-python-client generates it with --fail-on-warning (a response it
cannot model is a warning: it would silently drop that response from the
client); the test then drives a short flow through it against the real
service, and every documented error parses into the one Problem model."""

from __future__ import annotations

import base64
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = "reseller_ordering_api_client"


@pytest.fixture
async def generated(client, tmp_path):
    document = tmp_path / "openapi.json"
    document.write_bytes(await (await client.get("/api/openapi.json")).read())
    # The generator formats with ruff (its own dependency) and warns when ruff is not on
    # PATH: put the interpreter's scripts first, so an unactivated venv works too.
    scripts = Path(sys.executable).parent
    result = subprocess.run(
        [
            str(scripts / "openapi-python-client"),
            "generate",
            "--path",
            str(document),
            "--output-path",
            str(tmp_path / "client"),
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(tmp_path / "client"))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path / "client"))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


async def test_a_generated_client_drives_the_flow_and_parses_every_error(generated, client, api):
    tenant = await api.tenant()
    product = await api.product()
    base_url = str(client.make_url("")).rstrip("/")
    m = importlib.import_module(f"{PACKAGE}.models")
    token_api = importlib.import_module(f"{PACKAGE}.api.authentication.token")

    basic = base64.b64encode(f"{tenant.client_id}:{tenant.client_secret}".encode()).decode()
    async with generated.AuthenticatedClient(base_url=base_url, token=basic, prefix="Basic") as login:
        grant = m.TokenRequest(grant_type=m.TokenRequestGrantType.CLIENT_CREDENTIALS)
        token = await token_api.asyncio_detailed(client=login, body=grant)
    assert token.status_code == 200 and isinstance(token.parsed, m.AccessToken)
    async with generated.AuthenticatedClient(base_url=base_url, token=token.parsed.access_token) as reseller:
        await _flow(m, reseller, tenant, product)


async def _flow(m, reseller, tenant, product):
    create_order = importlib.import_module(f"{PACKAGE}.api.orders.create_order")
    get_order = importlib.import_module(f"{PACKAGE}.api.orders.get_order")
    checkout = importlib.import_module(f"{PACKAGE}.api.orders.checkout")
    add_item = importlib.import_module(f"{PACKAGE}.api.items.add_item")
    list_orders = importlib.import_module(f"{PACKAGE}.api.orders.list_orders")

    created = await create_order.asyncio_detailed(client=reseller, body=m.OrderCreate(account_id=tenant.customer_id))
    assert created.status_code == 201 and isinstance(created.parsed, m.Order)
    order = created.parsed
    assert order.status == m.OrderStatus.DRAFT
    item = await add_item.asyncio_detailed(
        order.id, client=reseller, body=m.ItemCreate(product_id=product["id"], quantity=2, billing_cycle="Monthly")
    )
    assert item.status_code == 201 and isinstance(item.parsed, m.Item)
    assert item.parsed.total_price == "25.00"

    missing = await get_order.asyncio_detailed(987654321, client=reseller)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, m.Problem) and missing.parsed.code == "not_found"

    assert (await checkout.asyncio_detailed(order.id, client=reseller)).status_code == 202
    again = await checkout.asyncio_detailed(order.id, client=reseller)
    assert again.status_code == 409
    assert isinstance(again.parsed, m.Problem) and again.parsed.code == "order_not_draft"

    refused = await create_order.asyncio_detailed(client=reseller, body=m.OrderCreate(account_id=987654321))
    assert refused.status_code == 422 and isinstance(refused.parsed, m.Problem)
    assert (refused.parsed.code, refused.parsed.errors[0].code) == ("validation_error", "unknown_account")

    page = await list_orders.asyncio_detailed(client=reseller, stage=m.ListOrdersStage.ALL)
    assert page.status_code == 200 and [o.id for o in page.parsed.items] == [order.id]

    # Statuses are open: a value this client does not know yet still parses.
    unknown = {**created.parsed.to_dict(), "status": "On Hold"}
    assert m.Order.from_dict(unknown).status == "On Hold"
    item_dict = {**item.parsed.to_dict(), "status": None}
    assert m.Item.from_dict(item_dict).status is None


async def test_a_generated_client_reads_subscriptions_and_places_a_change(generated, client, api):
    from tests.subscription_support import bought

    tenant = await api.tenant()
    owned = await bought(api, tenant, await api.product(), quantity=3)
    base_url = str(client.make_url("")).rstrip("/")
    m = importlib.import_module(f"{PACKAGE}.models")
    list_subscriptions = importlib.import_module(f"{PACKAGE}.api.subscriptions.list_subscriptions")
    get_subscription = importlib.import_module(f"{PACKAGE}.api.subscriptions.get_subscription")
    create_order = importlib.import_module(f"{PACKAGE}.api.orders.create_order")
    add_item = importlib.import_module(f"{PACKAGE}.api.items.add_item")
    get_account = importlib.import_module(f"{PACKAGE}.api.catalog.get_account")
    async with generated.AuthenticatedClient(base_url=base_url, token=tenant.token) as reseller:
        page = await list_subscriptions.asyncio_detailed(client=reseller, account_id=tenant.customer_id)
        assert page.status_code == 200 and [s.id for s in page.parsed.items] == [owned["id"]]
        one = await get_subscription.asyncio_detailed(owned["id"], client=reseller)
        assert isinstance(one.parsed, m.Subscription)
        assert (one.parsed.status, one.parsed.quantity) == (m.SubscriptionStatus.ACTIVE, 3)
        account = await get_account.asyncio_detailed(tenant.customer_id, client=reseller)
        assert isinstance(account.parsed, m.Account) and account.parsed.approval_required is None

        order = (await create_order.asyncio_detailed(
            client=reseller, body=m.OrderCreate(account_id=tenant.customer_id))).parsed
        change = m.ItemCreate(subscription_id=owned["id"], action=m.ItemAction.CHANGEQUANTITY, quantity=7)
        item = await add_item.asyncio_detailed(order.id, client=reseller, body=change)
        assert item.status_code == 201 and isinstance(item.parsed, m.Item)
        assert (item.parsed.action, item.parsed.subscription_id) == (m.ItemAction.CHANGEQUANTITY, str(owned["id"]))
        again = await add_item.asyncio_detailed(order.id, client=reseller, body=change)
        assert again.status_code == 422 and again.parsed.errors[0].code == "duplicate_subscription"

    # Statuses and actions are open: values this client does not know yet still parse.
    assert m.Subscription.from_dict({**one.parsed.to_dict(), "status": "Suspended"}).status == "Suspended"
    assert m.Item.from_dict({**item.parsed.to_dict(), "action": "upgrade"}).action == "upgrade"
