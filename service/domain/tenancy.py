"""The operator's actions: resellers, customers, credentials, products, custom fields.

Used by the /admin routes and by the demo seed alike. `db` is a pool or a
connection (inside a transaction), whichever the caller holds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from service import representations as rep
from service.auth import hash_secret, new_credentials
from service.errors import AlreadyExists, NotFound

Queries = Mapping[str, str]
Db = asyncpg.Pool | asyncpg.Connection


async def create_reseller(db: Db, q: Queries, *, name: str, edition: str) -> dict:
    return rep.reseller(await db.fetchrow(q["reseller_create"], name, edition))


async def create_customer(db: Db, q: Queries, reseller_id: int, *, name: str) -> dict:
    row = await db.fetchrow(q["customer_create"], reseller_id, name)
    if row is None:
        raise NotFound()
    return rep.account(row)


async def issue_credentials(db: Db, q: Queries, reseller_id: int) -> dict:
    """New credentials; the secret exists only in this answer, the database keeps its hash."""
    client_id, secret = new_credentials()
    if await db.fetchval(q["credential_create"], reseller_id, client_id, hash_secret(secret)) is None:
        raise NotFound()
    return {"clientId": client_id, "clientSecret": secret}


async def create_product(db: Db, q: Queries, data: Mapping[str, Any]) -> dict:
    row = await db.fetchrow(
        q["product_create"],
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


async def create_custom_field(db: Db, q: Queries, reseller_id: int, data: Mapping[str, Any]) -> dict:
    if await db.fetchrow(q["reseller_get"], reseller_id) is None:
        raise NotFound()
    row = await db.fetchrow(
        q["customfield_create"],
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
