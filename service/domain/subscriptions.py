"""Subscriptions: what a completed purchase became, and how a change order
names one.

A subscription is created, changed or cancelled only by the poll job, in the
transaction that finishes an item (`subscription_apply`,
sql/queries/subscriptions.sql). Here: reading them, pricing a change item from
the subscription it names, and the checkout rule that a subscription has at
most one change checked out and not final (`subscriptions_claim`).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from service import lifecycle
from service.auth import Principal
from service.db import Database
from service.domain import representations as rep
from service.domain.definitions import validate_entries
from service.errors import (
    FieldError,
    NotFound,
    SubscriptionChangePending,
    ValidationFailed,
    field_error,
)


def _refused(errors: list[FieldError]) -> ValidationFailed:
    return ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)


class Subscriptions:
    def __init__(self, *, db: Database) -> None:
        self._db = db

    async def get(self, who: Principal, subscription_id: int) -> dict:
        row = await self._db.fetchrow("subscription_get", subscription_id, who.reseller_id)
        if row is None:
            raise NotFound()
        return rep.subscription(row)

    async def require_visible(self, who: Principal, subscription_id: int) -> None:
        await self.get(who, subscription_id)

    async def page(
        self,
        who: Principal,
        *,
        account_id: int | None,
        product_id: int | None,
        status: str | None,
        after: tuple[datetime.datetime, int] | None,
        size: int,
    ) -> list[dict]:
        args = (who.reseller_id, status, after[0] if after else None, after[1] if after else None, size)
        if account_id is not None:
            # An account may hold a handful of subscriptions or most of the tenant's:
            # plan for the values, as the orders of one account are (Database.fetch_planned).
            rows = await self._db.fetch_planned("subscriptions_page_account", *args, account_id, product_id)
        elif product_id is not None:
            rows = await self._db.fetch("subscriptions_page_product", *args, product_id)
        else:
            rows = await self._db.fetch("subscriptions_page", *args)
        return [rep.subscription(row) for row in rows]

    async def priced_change(self, who: Principal, order_id: int, data: Mapping[str, Any]) -> tuple:
        """A change item as item_add inserts it, taken from the subscription it names;
        422 naming each field that breaks a rule of the contract."""
        action = data["action"]
        row = await self._db.fetchrow("subscription_for_change", data["subscriptionId"], who.reseller_id, order_id)
        if row is None:
            # Another reseller's subscription answers exactly like an unknown one.
            raise field_error("subscriptionId", "is not one of your subscriptions", code="unknown_subscription")
        errors = []
        if not row["same_account"]:
            errors.append(
                FieldError(
                    "subscriptionId",
                    "subscription_of_another_account",
                    f"belongs to account {row['account_id']}, not to this order's account",
                )
            )
        if row["status"] != lifecycle.ACTIVE:
            errors.append(
                FieldError("subscriptionId", "subscription_not_active", f"is {row['status']}; only an Active one changes")
            )
        if row["in_order"]:
            errors.append(
                FieldError("subscriptionId", "duplicate_subscription", "is already named by another item of this order")
            )
        if data.get("productId") is not None and data["productId"] != row["product_id"]:
            errors.append(
                FieldError("productId", "product_mismatch", f"must be the subscription's product {row['product_id']}")
            )
        if data.get("billingCycle") is not None and data["billingCycle"] != row["billing_cycle"]:
            errors.append(
                FieldError(
                    "billingCycle",
                    "billing_cycle_mismatch",
                    f"must be the subscription's billing cycle {row['billing_cycle']}",
                )
            )
        quantity = 0 if action == lifecycle.CANCEL else data["quantity"]
        if action == lifecycle.CHANGE_QUANTITY and quantity == row["quantity"]:
            errors.append(
                FieldError("quantity", "quantity_unchanged", f"is already {quantity}; give the new total")
            )
        if errors:
            raise _refused(errors)
        definitions = {d["name"]: d for d in row["definitions"]}
        values = validate_entries(data.get("characteristics") or [], definitions, field="characteristics")
        return (
            row["product_id"],
            row["sku"],
            row["product_name"],
            quantity,
            row["billing_cycle"],
            row["unit_price"],
            row["currency"],
            {name: value for name, value in values.items() if value is not None},
            action,
            row["id"],
        )

    async def claim_for_checkout(self, who: Principal, order_id: int) -> None:
        """Inside checkout's transaction, under the order's lock: claim every subscription the
        order's change items name, or refuse (the caller's transaction then rolls back)."""
        rows = await self._db.fetch("subscriptions_claim", order_id, who.reseller_id)
        ended = [
            FieldError(
                f"items[{row['item_id']}].subscriptionId",
                "subscription_not_active",
                f"item {row['item_id']}: subscription {row['subscription_id']} is {row['status']}",
            )
            for row in rows
            if row["status"] != lifecycle.ACTIVE
        ]
        if ended:
            raise _refused(ended)
        pending = [row for row in rows if not row["claimed"]]
        if pending:
            raise SubscriptionChangePending(
                "; ".join(
                    f"subscription {row['subscription_id']} has a change checked out and not final "
                    f"(order {row['pending_order_id']})"
                    for row in pending
                )
            )
