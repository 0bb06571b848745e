"""Items of an order: add, read, list, delete.

An item buys a product (a purchase) or, naming a subscription, changes its
quantity or cancels it (service.domain.subscriptions prices those)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import asyncpg

from service import lifecycle
from service.auth import Principal
from service.db import Database
from service.domain import representations as rep
from service.domain.definitions import validate_entries
from service.domain.orders import Orders, not_draft
from service.domain.subscriptions import Subscriptions
from service.errors import NotFound, ServiceError, field_error

# Products a process keeps once read (see _product). The catalog is the
# operator's, shared by every reseller, and small; the bound only keeps a
# catalog of unexpected size from growing the process.
PRODUCTS_KEPT = 10_000


class Items:
    def __init__(self, *, db: Database, orders: Orders, subscriptions: Subscriptions) -> None:
        self._db = db
        self._orders = orders
        self._subscriptions = subscriptions
        self._products: dict[int, asyncpg.Record] = {}

    async def _row(self, who: Principal, order_id: int, item_id: int) -> asyncpg.Record:
        row = await self._db.fetchrow("item_get", order_id, who.reseller_id, item_id)
        if row is None:
            raise NotFound()
        return row

    async def require_visible(self, who: Principal, order_id: int, item_id: int) -> None:
        await self._row(who, order_id, item_id)

    async def get(self, who: Principal, order_id: int, item_id: int) -> dict:
        return rep.item(await self._row(who, order_id, item_id))

    async def page(self, who: Principal, order_id: int, *, after: int | None, size: int) -> list[dict]:
        await self._orders.require_visible(who, order_id)
        rows = await self._db.fetch("items_page", order_id, who.reseller_id, after, size)
        return [rep.item(row) for row in rows]

    async def add(
        self, who: Principal, order_id: int, data: Mapping[str, Any], *, if_match: str | None
    ) -> dict:
        try:
            if data.get("subscriptionId") is None:
                args = await self._priced(data)
            else:
                args = await self._subscriptions.priced_change(who, order_id, data)
        except ServiceError:
            await self._orders.require_visible(who, order_id)  # 404 before 422
            raise
        if if_match is None:
            row = await self._insert(who, order_id, args)
            if row is not None:
                return rep.item(row)
            order = await self._db.fetchrow("order_state", order_id, who.reseller_id)
        else:
            async with self._db.transaction():
                order = await self._orders.lock(who, order_id, if_match=if_match)
                row = await self._insert(who, order_id, args)
                if row is not None:
                    return rep.item(row)
        # The guarded statement matched nothing: say why.
        if order is None:
            raise NotFound()
        if order["status"] != "Draft":
            raise not_draft(order_id, order["status"])
        raise field_error(
            "productId" if args[8] == lifecycle.PURCHASE else "subscriptionId",
            f"is priced in {args[6]}; this order is in {order['currency']}",
            code="currency_mismatch",
        )

    async def _priced(self, data: Mapping[str, Any]) -> tuple:
        """The item as item_add inserts it, checked against the catalog (422 naming the field)."""
        product = await self._product(data["productId"])
        if product is None:
            raise field_error("productId", "is not a product of the catalog", code="unknown_product")
        cycle = data["billingCycle"]
        if cycle not in product["billing_cycles"]:
            raise field_error(
                "billingCycle",
                f"must be one of {', '.join(product['billing_cycles'])}",
                code="unknown_billing_cycle",
            )
        definitions = {d["name"]: d for d in product["characteristics"]}
        values = validate_entries(data.get("characteristics") or [], definitions, field="characteristics")
        values = {name: value for name, value in values.items() if value is not None}
        price = Decimal(product["unit_prices"][cycle])
        return (
            product["id"],
            product["sku"],
            product["name"],
            data["quantity"],
            cycle,
            price,
            product["currency"],
            values,
            lifecycle.PURCHASE,
            None,
        )

    async def _product(self, product_id: int) -> asyncpg.Record | None:
        """The product as product_get reads it, read once per process: a product
        never changes once created (the admin API only adds them, and nothing
        updates what an item copies), so adding an item is one statement, not two.
        An id not found is asked again next time: the product may be added since."""
        product = self._products.get(product_id)
        if product is None:
            product = await self._db.fetchrow("product_get", product_id)
            if product is not None and len(self._products) < PRODUCTS_KEPT:
                self._products[product_id] = product
        return product

    async def _insert(self, who: Principal, order_id: int, args: tuple) -> asyncpg.Record | None:
        # args: the item's columns ($3..$10), then its action and subscription ($12, $13).
        try:
            return await self._db.fetchrow("item_add", order_id, who.reseller_id, *args[:8], who.client_id, *args[8:])
        except asyncpg.NumericValueOutOfRangeError:
            # Totals are numeric(20, 2); the statement failed whole, nothing was added.
            raise field_error(
                "quantity", "would take the order total over 999999999999999999.99", code="total_too_large"
            ) from None
        except asyncpg.UniqueViolationError:
            # order_items_subscription_idx: another add naming this subscription won the race.
            raise field_error(
                "subscriptionId", "is already named by another item of this order", code="duplicate_subscription"
            ) from None

    async def delete(self, who: Principal, order_id: int, item_id: int, *, if_match: str | None) -> None:
        async with self._db.transaction():
            order = await self._orders.lock(who, order_id, if_match=None)
            item = await self._row(who, order_id, item_id)
            rep.require_match(if_match, rep.item(item))
            if order["status"] != "Draft":
                raise not_draft(order_id, order["status"])
            if await self._db.fetchval("item_delete", order_id, item_id, who.client_id) is None:
                raise NotFound()
            await self._db.execute("order_refresh_totals", order_id)
