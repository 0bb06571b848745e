"""Step 7 of the seed: an order's custom fields and an item's characteristics.

Both PUTs validate every entry before writing any, then write them in one
statement under the order's lock, and only while the order is a Draft.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from service.auth import Principal
from service.domain.ordering import Queries, lock_draft
from service.errors import NotFound
from service.values import listing, validate_entries


async def custom_fields(pool: asyncpg.Pool, q: Queries, who: Principal, order_id: int) -> list[dict]:
    values = await pool.fetchval(q["order_custom_fields"], order_id, who.reseller_id)
    if values is None:
        raise NotFound()
    definitions = await pool.fetch(q["customfields_published"], who.reseller_id)
    return listing(definitions, values)


async def set_custom_fields(
    pool: asyncpg.Pool, q: Queries, who: Principal, order_id: int, entries: Sequence[Mapping[str, Any]]
) -> list[dict]:
    # Only fields published to Storefront exist for the API: others are unknown names.
    definitions = await pool.fetch(q["customfields_published"], who.reseller_id)
    values = validate_entries(entries, {d["name"]: d for d in definitions}, field="body")
    async with pool.acquire() as conn, conn.transaction():
        await lock_draft(conn, q, order_id, who)
        stored = await conn.fetchval(q["order_set_custom_fields"], order_id, values)
    return listing(definitions, stored)


async def characteristics(pool: asyncpg.Pool, q: Queries, who: Principal, order_id: int, item_id: int) -> list[dict]:
    row = await pool.fetchrow(q["item_characteristics"], order_id, who.reseller_id, item_id)
    if row is None:
        raise NotFound()
    return listing(row["definitions"], row["item_values"])


async def set_characteristics(
    pool: asyncpg.Pool, q: Queries, who: Principal, order_id: int, item_id: int,
    entries: Sequence[Mapping[str, Any]],
) -> list[dict]:
    row = await pool.fetchrow(q["item_characteristics"], order_id, who.reseller_id, item_id)
    if row is None:
        raise NotFound()
    definitions = row["definitions"]
    values = validate_entries(entries, {d["name"]: d for d in definitions}, field="body")
    async with pool.acquire() as conn, conn.transaction():
        await lock_draft(conn, q, order_id, who)
        stored = await conn.fetchval(q["item_set_characteristics"], order_id, item_id, values)
        if stored is None:
            raise NotFound()  # deleted since we looked
    return listing(definitions, stored)
