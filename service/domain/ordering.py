"""Drafts and their items: create, add, delete, check out.

Every write to a Draft first locks the order row (`order_lock`), so item
changes, value changes and checkout of one order happen one at a time: an item
added while a checkout commits is either part of the checked-out order or
refused with 409, never orphaned.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import asyncpg

from service import representations as rep
from service.auth import Principal
from service.errors import (
    FieldError,
    NotFound,
    OrderEmpty,
    OrderIncomplete,
    OrderNotDraft,
    field_error,
)
from service.values import missing_required, validate_entries

Queries = Mapping[str, str]
MAX_DAYS_AHEAD = datetime.timedelta(days=366)


def today_utc() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


async def lock_draft(conn: asyncpg.Connection, q: Queries, order_id: int, who: Principal) -> asyncpg.Record:
    row = await conn.fetchrow(q["order_lock"], order_id, who.reseller_id)
    if row is None:
        raise NotFound()
    if row["status"] != "Draft":
        raise OrderNotDraft(f"Order {order_id} is {row['status']}; only a Draft can change")
    return row


async def find_order(pool: asyncpg.Pool, q: Queries, order_id: int, who: Principal) -> asyncpg.Record:
    row = await pool.fetchrow(q["order_get"], order_id, who.reseller_id)
    if row is None:
        raise NotFound()
    return row


async def create_order(pool: asyncpg.Pool, q: Queries, who: Principal, data: Mapping[str, Any]) -> dict:
    today = today_utc()
    order_date = data.get("orderDate") or today
    if order_date < today:
        raise field_error("orderDate", f"must not be in the past (today is {today} UTC)", code="date_in_past")
    if order_date > today + MAX_DAYS_AHEAD:
        raise field_error(
            "orderDate", f"must be within {MAX_DAYS_AHEAD.days} days from today", code="date_too_far"
        )
    row = await pool.fetchrow(
        q["order_create"], who.reseller_id, data["accountId"], order_date, data.get("notes")
    )
    if row is None:
        # A foreign account answers exactly like an unknown one.
        raise field_error("accountId", "is not one of your accounts", code="unknown_account")
    return rep.order(row)


async def add_item(
    pool: asyncpg.Pool, q: Queries, who: Principal, order_id: int, data: Mapping[str, Any]
) -> dict:
    product = await pool.fetchrow(q["product_get"], data["productId"])
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
    try:
        row = await pool.fetchrow(
            q["item_add"],
            order_id,
            who.reseller_id,
            product["id"],
            product["sku"],
            product["name"],
            data["quantity"],
            cycle,
            price,
            product["currency"],
            values,
        )
    except asyncpg.NumericValueOutOfRangeError:
        # Totals are numeric(20, 2); the statement failed whole, nothing was added.
        raise field_error(
            "quantity", "would take the order total over 999999999999999999.99", code="total_too_large"
        ) from None
    if row is None:
        # The guarded statement matched nothing: say why.
        order = await pool.fetchrow(q["order_state"], order_id, who.reseller_id)
        if order is None:
            raise NotFound()
        if order["status"] != "Draft":
            raise OrderNotDraft(f"Order {order_id} is {order['status']}; only a Draft can change")
        raise field_error(
            "productId",
            f"is priced in {product['currency']}; this order is in {order['currency']}",
            code="currency_mismatch",
        )
    return rep.item(row)


async def delete_item(pool: asyncpg.Pool, q: Queries, who: Principal, order_id: int, item_id: int) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await lock_draft(conn, q, order_id, who)
        if await conn.fetchval(q["item_delete"], order_id, item_id) is None:
            raise NotFound()
        await conn.execute(q["order_refresh_totals"], order_id)


async def checkout(
    pool: asyncpg.Pool, q: Queries, who: Principal, order_id: int, *, item_deadline_seconds: float
) -> dict:
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(q["order_lock"], order_id, who.reseller_id)
        if row is None:
            raise NotFound()
        who.require_write()  # after the scope check: a foreign id is 404 for every edition
        if row["status"] != "Draft":
            raise OrderNotDraft(f"Order {order_id} is {row['status']}; only a Draft can change")
        items = await conn.fetch(q["checkout_items"], order_id)
        if not items:
            raise OrderEmpty("Add at least one item before checking out")
        fields = await conn.fetch(q["customfields_published"], who.reseller_id)
        errors = [
            FieldError(f"customFields.{name}", "required", f"custom field {name!r} is required")
            for name in missing_required(fields, row["custom_fields"])
        ]
        for item in items:
            errors.extend(
                FieldError(
                    f"items[{item['id']}].characteristics.{name}",
                    "required",
                    f"item {item['id']}: characteristic {name!r} is required",
                )
                for name in missing_required(item["definitions"], item["item_values"])
            )
        if errors:
            raise OrderIncomplete("Set every required value before checking out", errors=errors)
        confirmed = await conn.fetchrow(q["order_checkout"], order_id, who.reseller_id, item_deadline_seconds)
    return rep.order(confirmed)
