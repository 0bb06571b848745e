"""`serve --demo`: an idempotent seed whose products really provision."""

import asyncio

from service.demo import CONNECTOR_SKU, INSTANT_SKU, banner, seed, start_connector
from service.state import POLLER, SERVICES


async def _final(app, api, tenant, path: str) -> dict:
    """Poll the order's execution until it is final (or 20 ticks have passed); its progress then."""
    for _ in range(20):
        await app[POLLER].run_once()
        _, progress = await api.call(tenant, "GET", f"{path}/execute/status")
        if progress["status"] in ("Completed", "Partially Completed", "Failed"):
            break
    return progress


async def test_the_demo_seed_is_idempotent_and_its_order_completes(client, api, conn):
    app = client.server.app
    runner, url = await start_connector(delay=0)
    try:
        first = await seed(app[SERVICES], connector_url=url)
        again = await asyncio.gather(*(seed(app[SERVICES], connector_url=url) for _ in range(3)))
        assert first.credentials is not None
        assert all(s.credentials is None and s.reseller["id"] == first.reseller["id"] for s in again)
        assert all(s.clerk is None and s.approval_reseller["id"] == first.approval_reseller["id"] for s in again)
        assert await conn.fetchval("SELECT count(*) FROM resellers") == 2
        assert await conn.fetchval("SELECT count(*) FROM products") == 2

        token = await api.token(first.credentials["clientId"], first.credentials["clientSecret"])
        tenant = type("DemoTenant", (), {"headers": {"Authorization": f"Bearer {token}"}})()
        status, products = await api.call(tenant, "GET", "/api/products")
        by_sku = {p["sku"]: p for p in products["items"]}
        status, order = await api.call(tenant, "POST", "/api/orders", {"accountId": first.customer_id})
        assert status == 201
        path = f"/api/orders/{order['id']}"
        await api.call(
            tenant,
            "POST",
            f"{path}/items",
            {"productId": by_sku[INSTANT_SKU]["id"], "quantity": 5, "billingCycle": "Monthly"},
        )
        await api.call(
            tenant,
            "POST",
            f"{path}/items",
            {
                "productId": by_sku[CONNECTOR_SKU]["id"],
                "quantity": 1,
                "billingCycle": "Monthly",
                "characteristics": [{"name": "hostname", "value": "web-1"}],
            },
        )
        assert (await api.call(tenant, "POST", f"{path}/checkout"))[0] == 202
        progress = await _final(app, api, tenant, path)
        assert progress["status"] == "Completed"
        assert all(item["subscriptionId"] for item in progress["items"])

        # The demo ends with a quantity change and a cancellation, through the same connectors.
        status, owned = await api.call(tenant, "GET", "/api/subscriptions")
        by_sku = {s["sku"]: s for s in owned["items"]}
        assert by_sku[CONNECTOR_SKU]["externalId"].startswith("sim-sub-")
        status, change = await api.call(tenant, "POST", "/api/orders", {"accountId": first.customer_id})
        path = f"/api/orders/{change['id']}"
        mailboxes, vm = by_sku[INSTANT_SKU], by_sku[CONNECTOR_SKU]
        for body in (
            {"subscriptionId": mailboxes["id"], "action": "changeQuantity", "quantity": 8},
            {"subscriptionId": vm["id"], "action": "cancel"},
        ):
            assert (await api.call(tenant, "POST", f"{path}/items", body))[0] == 201
        assert (await api.call(tenant, "POST", f"{path}/checkout"))[0] == 202
        assert (await _final(app, api, tenant, path))["status"] == "Completed"
        status, owned = await api.call(tenant, "GET", "/api/subscriptions")
        assert {s["sku"]: (s["status"], s["quantity"]) for s in owned["items"]} == {
            INSTANT_SKU: ("Active", 8),
            CONNECTOR_SKU: ("Cancelled", 1),
        }
        assert "GET /api/subscriptions" in banner(first, port=8080)
    finally:
        await runner.cleanup()
