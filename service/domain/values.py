"""An order's custom fields and an item's characteristics.

Both PUTs validate every entry before writing any, then write them in one
statement under the order's lock, and only while the order is a Draft. The
list a GET answers is also what If-Match is compared with, under that lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from service.auth import Principal
from service.db import Database
from service.domain import representations as rep
from service.domain.definitions import listing, validate_entries
from service.domain.orders import Orders, not_draft
from service.errors import NotFound, ServiceError

Entries = Sequence[Mapping[str, Any]]


class Values:
    def __init__(self, *, db: Database, orders: Orders) -> None:
        self._db = db
        self._orders = orders

    async def custom_fields(self, who: Principal, order_id: int) -> list[dict]:
        values = await self._db.fetchval("order_custom_fields", order_id, who.reseller_id)
        if values is None:
            raise NotFound()
        definitions = await self._db.fetch("customfields_published", who.reseller_id)
        return listing(definitions, values)

    async def set_custom_fields(
        self, who: Principal, order_id: int, entries: Entries, *, if_match: str | None
    ) -> list[dict]:
        # Only fields published to Storefront exist for the API: others are unknown names.
        definitions = await self._db.fetch("customfields_published", who.reseller_id)
        try:
            values = validate_entries(entries, {d["name"]: d for d in definitions}, field="body")
        except ServiceError:
            await self._orders.require_visible(who, order_id)  # 404 before 422
            raise
        async with self._db.transaction():
            order = await self._orders.lock(who, order_id, if_match=None)
            rep.require_match(if_match, listing(definitions, order["custom_fields"]))
            if order["status"] != "Draft":
                raise not_draft(order_id, order["status"])
            stored = await self._db.fetchval(
                "order_set_custom_fields", order_id, values, list(values), who.client_id
            )
        return listing(definitions, stored)

    async def characteristics(self, who: Principal, order_id: int, item_id: int) -> list[dict]:
        row = await self._db.fetchrow("item_characteristics", order_id, who.reseller_id, item_id)
        if row is None:
            raise NotFound()
        return listing(row["definitions"], row["item_values"])

    async def set_characteristics(
        self, who: Principal, order_id: int, item_id: int, entries: Entries, *, if_match: str | None
    ) -> list[dict]:
        row = await self._db.fetchrow("item_characteristics", order_id, who.reseller_id, item_id)
        if row is None:
            raise NotFound()
        definitions = row["definitions"]
        values = validate_entries(entries, {d["name"]: d for d in definitions}, field="body")
        async with self._db.transaction():
            order = await self._orders.lock(who, order_id, if_match=None)
            if if_match is not None:
                # Values only change under the order's lock: read now, they are current.
                current = await self._db.fetchrow("item_characteristics", order_id, who.reseller_id, item_id)
                if current is None:
                    raise NotFound()
                rep.require_match(if_match, listing(current["definitions"], current["item_values"]))
            if order["status"] != "Draft":
                raise not_draft(order_id, order["status"])
            stored = await self._db.fetchval(
                "item_set_characteristics", order_id, item_id, values, list(values), who.client_id
            )
            if stored is None:
                raise NotFound()  # deleted since we looked
        return listing(definitions, stored)
