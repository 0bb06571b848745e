"""Arrange tenants, products and orders through the real operator and reseller API."""

from __future__ import annotations

import base64
import dataclasses
import itertools
from typing import Any

from aiohttp.test_utils import TestClient

ADMIN_TOKEN = "test-admin-token"
PROBLEM = "application/problem+json"
_sku = itertools.count(1)


@dataclasses.dataclass
class Tenant:
    reseller_id: int
    account_id: int
    customer_id: int
    client_id: str
    client_secret: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.admin_headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    async def admin(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        response = await self.client.request(method, path, json=body, headers=self.admin_headers)
        if expect is not None:
            assert response.status == expect, await response.text()
        if response.status == 204:
            return None
        return await response.json(content_type=None)

    async def token(self, client_id: str, secret: str, scope: str | None = None) -> str:
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        form = {"grant_type": "client_credentials"}
        if scope is not None:
            form["scope"] = scope
        response = await self.client.post(
            "/oauth/token", data=form, headers={"Authorization": f"Basic {basic}"}
        )
        assert response.status == 200, await response.text()
        return (await response.json())["access_token"]

    async def colleague(self, tenant: Tenant, scopes: list[str] | None = None) -> Tenant:
        """Another credential of the same reseller (all scopes unless given)."""
        body = None if scopes is None else {"scopes": scopes}
        creds = await self.admin(
            "POST", f"/admin/resellers/{tenant.reseller_id}/credentials", body, expect=201
        )
        return dataclasses.replace(
            tenant,
            client_id=creds["clientId"],
            client_secret=creds["clientSecret"],
            token=await self.token(creds["clientId"], creds["clientSecret"]),
        )

    async def tenant(self, edition: str = "Standard", name: str = "Acme Cloud") -> Tenant:
        reseller = await self.admin(
            "POST", "/admin/resellers", {"name": name, "edition": edition}, expect=201
        )
        customer = await self.admin(
            "POST", f"/admin/resellers/{reseller['id']}/customers", {"name": f"{name} customer"}, expect=201
        )
        creds = await self.admin("POST", f"/admin/resellers/{reseller['id']}/credentials", expect=201)
        token = await self.token(creds["clientId"], creds["clientSecret"])
        return Tenant(
            reseller_id=reseller["id"],
            account_id=reseller["accountId"],
            customer_id=customer["id"],
            client_id=creds["clientId"],
            client_secret=creds["clientSecret"],
            token=token,
        )

    async def product(self, **overrides: Any) -> dict:
        body = {
            "sku": f"SKU-{next(_sku)}",
            "name": "Cloud Backup",
            "billingCycles": ["Monthly", "Annually"],
            "unitPrices": {"Monthly": "12.50", "Annually": "120.00"},
            "currency": "EUR",
            "characteristics": [],
            "fulfillment": {"type": "instant"},
        }
        body.update(overrides)
        return await self.admin("POST", "/admin/products", body, expect=201)

    async def call(self, tenant: Tenant, method: str, path: str, body: Any = None, **kwargs: Any):
        """A reseller call (`headers=` adds to the tenant's); returns (status, parsed body or None)."""
        headers = {**tenant.headers, **kwargs.pop("headers", {})}
        response = await self.client.request(method, path, json=body, headers=headers, **kwargs)
        text = await response.text()
        return response.status, (await response.json(content_type=None) if text else None)

    async def draft(self, tenant: Tenant, account_id: int | None = None) -> dict:
        status, order = await self.call(
            tenant, "POST", "/api/orders", {"accountId": account_id or tenant.account_id}
        )
        assert status == 201, order
        return order

    async def item(self, tenant: Tenant, order_id: int, product: dict, **overrides: Any) -> dict:
        body = {"productId": product["id"], "quantity": 2, "billingCycle": product["billingCycles"][0]}
        body.update(overrides)
        status, item = await self.call(tenant, "POST", f"/api/orders/{order_id}/items", body)
        assert status == 201, item
        return item
