"""Arrange subscriptions through the real API: buy, execute, change."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from service.state import POLLER
from tests.api import Api, Tenant

FINAL = ("Completed", "Partially Completed", "Failed")


async def executed(api: Api, tenant: Tenant, order_id: int, *, within: float = 15.0) -> dict:
    """Run the app's poll job until the order is final; the order as GET shows it then."""
    poller = api.client.server.app[POLLER]
    deadline = time.monotonic() + within
    while True:
        await poller.run_once()
        status, order = await api.call(tenant, "GET", f"/api/orders/{order_id}")
        assert status == 200, order
        if order["status"] in FINAL:
            return order
        if time.monotonic() > deadline:
            raise AssertionError(f"order {order_id} is still {order['status']} after {within} s")
        await asyncio.sleep(0.02)


async def checked_out(api: Api, tenant: Tenant, order_id: int, *, expect: str = "Pending") -> dict:
    status, order = await api.call(tenant, "POST", f"/api/orders/{order_id}/checkout")
    assert (status, order.get("status")) == (202, expect), order
    return order


async def bought(api: Api, tenant: Tenant, product: dict, *, quantity: int = 5, account_id: int | None = None,
                 cycle: str | None = None) -> dict:
    """A subscription: a purchase of `quantity` checked out and executed to completion."""
    order = await api.draft(tenant, account_id or tenant.customer_id)
    item = await api.item(tenant, order["id"], product, quantity=quantity,
                          billingCycle=cycle or product["billingCycles"][0])
    await checked_out(api, tenant, order["id"])
    assert (await executed(api, tenant, order["id"]))["status"] == "Completed"
    status, item = await api.call(tenant, "GET", f"/api/orders/{order['id']}/items/{item['id']}")
    assert status == 200 and item["subscriptionId"], item
    status, subscription = await api.call(tenant, "GET", f"/api/subscriptions/{item['subscriptionId']}")
    assert status == 200, subscription
    return subscription


async def change_order(api: Api, tenant: Tenant, subscription: dict, action: str, **body: Any) -> tuple[dict, dict]:
    """A Draft for the subscription's account with one change item; (order, item)."""
    order = await api.draft(tenant, subscription["accountId"])
    status, item = await api.call(
        tenant, "POST", f"/api/orders/{order['id']}/items",
        {"subscriptionId": subscription["id"], "action": action, **body},
    )
    assert status == 201, item
    return order, item


async def subscription(api: Api, tenant: Tenant, subscription_id: int | str) -> dict:
    status, found = await api.call(tenant, "GET", f"/api/subscriptions/{subscription_id}")
    assert status == 200, found
    return found
