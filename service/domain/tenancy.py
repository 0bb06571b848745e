"""The operator's actions: resellers, customers, credentials, products, custom
fields; and a reseller's own settings. Used by the /admin routes, the reseller
settings route and the demo seed alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from service.auth import SCOPES, hash_secret, new_credentials
from service.db import Database
from service.domain import representations as rep
from service.errors import AlreadyExists, NotFound


class Tenancy:
    def __init__(self, *, db: Database) -> None:
        self._db = db

    async def create_reseller(self, *, name: str, edition: str) -> dict:
        return rep.reseller(await self._db.fetchrow("reseller_create", name, edition))

    async def reseller(self, reseller_id: int) -> dict:
        row = await self._db.fetchrow("reseller_get", reseller_id)
        if row is None:
            raise NotFound()
        return rep.reseller(row)

    async def change_reseller(
        self, reseller_id: int, *, edition: str | None = None, approval_required: bool | None = None
    ) -> dict:
        row = await self._db.fetchrow("reseller_patch", reseller_id, edition, approval_required)
        if row is None:
            raise NotFound()
        return rep.reseller(row)

    async def create_customer(self, reseller_id: int, *, name: str) -> dict:
        row = await self._db.fetchrow("customer_create", reseller_id, name)
        if row is None:
            raise NotFound()
        return rep.account(row)

    async def issue_credentials(self, reseller_id: int, *, scopes: Iterable[str] = SCOPES) -> dict:
        """New credentials; the secret exists only in this answer, the database keeps its hash."""
        client_id, secret = new_credentials()
        wanted = [scope for scope in SCOPES if scope in set(scopes)]
        row = await self._db.fetchrow("credential_create", reseller_id, client_id, hash_secret(secret), wanted)
        if row is None:
            raise NotFound()
        return {"clientId": client_id, "clientSecret": secret, "scopes": list(row["scopes"])}

    async def revoke_credentials(self, reseller_id: int, client_id: str) -> None:
        if await self._db.fetchval("credential_revoke", reseller_id, client_id) is None:
            raise NotFound()

    async def create_product(self, data: Mapping[str, Any]) -> dict:
        row = await self._db.fetchrow(
            "product_create",
            data["sku"],
            data["name"],
            data["billingCycles"],
            {cycle: f"{price:.2f}" for cycle, price in data["unitPrices"].items()},
            data["currency"],
            data["characteristics"],
            dict(data["fulfillment"]),
        )
        if row is None:
            raise AlreadyExists(f"A product with sku {data['sku']!r} exists already")
        return rep.product(row)

    async def create_custom_field(self, reseller_id: int, data: Mapping[str, Any]) -> dict:
        if await self._db.fetchrow("reseller_get", reseller_id) is None:
            raise NotFound()
        row = await self._db.fetchrow(
            "customfield_create",
            reseller_id,
            data["name"],
            data["label"],
            data["type"],
            data["required"],
            data["options"],
            data["publishedToStorefront"],
        )
        if row is None:
            raise AlreadyExists(f"Custom field {data['name']!r} exists already for this reseller")
        return rep.custom_field_definition(row)

    async def settings(self, reseller_id: int) -> dict:
        return rep.reseller_settings(await self._db.fetchrow("reseller_settings", reseller_id))

    async def change_settings(self, reseller_id: int, *, approval_required: bool, changed_by: str) -> dict:
        """`changed_by`: the clientId that changes them, recorded with the time."""
        row = await self._db.fetchrow("reseller_set_settings", reseller_id, approval_required, changed_by)
        return rep.reseller_settings(row)
