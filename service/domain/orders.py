"""Orders: create, read, list, check out, approve, cancel, follow execution.

A change is one guarded statement (`... WHERE status = 'Draft' RETURNING`),
so concurrent requests cannot both win; when it matches nothing, the order is
read again to say why (404, 409, 403). Changes that must see more than one row
(checkout, and any change sent with If-Match) first lock the order row with
`order_lock`, which serialises every change of one order: an item added
while a checkout commits is either part of the checked-out order or refused
with 409, never orphaned. A checkout without If-Match first tries one guarded
statement (`order_checkout` checking for itself): it checks what the locked checkout
checks, and only against the order's row version its snapshot saw, so any
change that committed meanwhile sends it down the locked path. Each
statement writes its event with the change.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import asyncpg

from service import lifecycle
from service.auth import Principal
from service.db import Database
from service.domain import representations as rep
from service.domain.definitions import missing_required
from service.domain.subscriptions import Subscriptions
from service.errors import (
    ApproverIsSubmitter,
    FieldError,
    NotFound,
    OrderEmpty,
    OrderIncomplete,
    OrderNotConfirmed,
    OrderNotDraft,
    OrderNotPendingApproval,
    field_error,
)

MAX_DAYS_AHEAD = datetime.timedelta(days=366)


def today_utc() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def not_draft(order_id: int, status: str) -> OrderNotDraft:
    return OrderNotDraft(f"Order {order_id} is {status}; only a Draft can change")


class Orders:
    def __init__(self, *, db: Database, item_deadline_seconds: float, subscriptions: Subscriptions) -> None:
        self._db = db
        self._item_deadline_seconds = item_deadline_seconds
        self._subscriptions = subscriptions

    async def require_visible(self, who: Principal, order_id: int) -> None:
        if await self._db.fetchrow("order_state", order_id, who.reseller_id) is None:
            raise NotFound()

    async def get(self, who: Principal, order_id: int) -> dict:
        row = await self._db.fetchrow("order_get", order_id, who.reseller_id)
        if row is None:
            raise NotFound()
        return rep.order(row)

    async def lock(
        self, who: Principal, order_id: int, *, if_match: str | None, query: str = "order_lock"
    ) -> asyncpg.Record:
        """Lock the order for a change, inside the caller's transaction: 404, then 412.
        `query` an order_lock that answers more of the order (order_lock_for_checkout)."""
        row = await self._db.fetchrow(query, order_id, who.reseller_id)
        if row is None:
            raise NotFound()
        rep.require_match(if_match, rep.order(row))
        return row

    async def lock_draft(
        self, who: Principal, order_id: int, *, if_match: str | None, query: str = "order_lock"
    ) -> asyncpg.Record:
        row = await self.lock(who, order_id, if_match=if_match, query=query)
        if row["status"] != lifecycle.DRAFT:
            raise not_draft(order_id, row["status"])
        return row

    async def create(self, who: Principal, data: Mapping[str, Any]) -> dict:
        today = today_utc()
        order_date = data.get("orderDate") or today
        if order_date < today:
            raise field_error(
                "orderDate", f"must not be in the past (today is {today} UTC)", code="date_in_past"
            )
        if order_date > today + MAX_DAYS_AHEAD:
            raise field_error(
                "orderDate", f"must be within {MAX_DAYS_AHEAD.days} days from today", code="date_too_far"
            )
        row = await self._db.fetchrow(
            "order_create", who.reseller_id, data["accountId"], order_date, data.get("notes"), who.client_id
        )
        if row is None:
            # A foreign account answers exactly like an unknown one.
            raise field_error("accountId", "is not one of your accounts", code="unknown_account")
        return rep.order(row)

    async def page(
        self,
        who: Principal,
        *,
        stage: str,
        account_id: int | None,
        status: str | None,
        from_date: datetime.date | None,
        to_date: datetime.date | None,
        after: tuple[datetime.date, int] | None,
        size: int,
    ) -> list[dict]:
        # One statement per index, each good with a generic plan (sql/queries/orders.sql).
        args = [
            who.reseller_id,
            stage,
            status,
            from_date,
            to_date,
            after[0] if after else None,
            after[1] if after else None,
            size,
        ]
        if account_id is not None:
            # An account may hold a handful of orders or half the tenant's: the right plan
            # (its index in order, or fetch and sort) depends on which, so plan per call.
            rows = await self._db.fetch_planned("orders_page_account", *args, account_id)
        elif stage == "draft":
            rows = await self._db.fetch("orders_page_drafts", *args)
        else:
            rows = await self._db.fetch("orders_page", *args)
        return [rep.order(row) for row in rows]

    async def checkout(self, who: Principal, order_id: int, *, if_match: str | None) -> dict:
        if if_match is None:
            # One guarded statement when the order can simply be checked out; otherwise
            # (a refusal to explain, change items to claim) the locked path below.
            row = await self._db.fetchrow(
                "order_checkout", order_id, who.reseller_id, self._item_deadline_seconds, who.client_id, False
            )
            if row is not None:
                return rep.order(row)
        async with self._db.transaction():
            row = await self.lock_draft(who, order_id, if_match=if_match, query="order_lock_for_checkout")
            items, fields = row["items"], row["fields"]
            if not items:
                raise OrderEmpty("Add at least one item before checking out")
            errors = [
                FieldError(f"customFields.{name}", "required", f"custom field {name!r} is required")
                for name in missing_required(fields, row["custom_fields"])
            ]
            # A change item takes what it changes from its subscription: none of the
            # product's characteristics is required of it.
            for item in (i for i in items if i["action"] == lifecycle.PURCHASE):
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
            if any(item["action"] != lifecycle.PURCHASE for item in items):
                await self._subscriptions.claim_for_checkout(who, order_id)
            confirmed = await self._db.fetchrow(
                "order_checkout", order_id, who.reseller_id, self._item_deadline_seconds, who.client_id, True
            )
        return rep.order(confirmed)

    async def approve(self, who: Principal, order_id: int, *, if_match: str | None) -> dict:
        return await self._decide(
            who,
            order_id,
            if_match,
            "order_approve",
            self._item_deadline_seconds,
            four_eyes=True,
        )

    async def cancel(self, who: Principal, order_id: int, *, reason: str | None, if_match: str | None) -> dict:
        return await self._decide(who, order_id, if_match, "order_cancel", reason, four_eyes=False)

    async def _decide(
        self, who: Principal, order_id: int, if_match: str | None, query: str, arg: Any, *, four_eyes: bool
    ) -> dict:
        """Approve or cancel: one guarded statement; with If-Match, under the order's lock."""
        args = (order_id, who.reseller_id, arg, who.client_id)
        if if_match is None:
            row = await self._db.fetchrow(query, *args)
            if row is not None:
                return rep.order(row)
            state = await self._db.fetchrow("order_state", order_id, who.reseller_id)
        else:
            async with self._db.transaction():
                state = await self.lock(who, order_id, if_match=if_match)
                row = await self._db.fetchrow(query, *args)
                if row is not None:
                    return rep.order(row)
        if state is None:
            raise NotFound()
        if state["status"] == lifecycle.PENDING_APPROVAL and four_eyes and state["submitted_by"] == who.client_id:
            raise ApproverIsSubmitter("The credential that checked this order out cannot approve it")
        # Not waiting (or, read after the statement, only just checked out: it was not then).
        raise OrderNotPendingApproval(f"Order {order_id} is {state['status']}, not waiting for approval")

    async def execution_status(self, who: Principal, order_id: int) -> dict:
        row = await self._db.fetchrow("order_execution", order_id, who.reseller_id)
        if row is None:
            raise NotFound()
        if not lifecycle.is_confirmed(row["status"]):
            raise OrderNotConfirmed(f"Order {row['id']} is {row['status']}; it has no execution yet")
        return rep.execution_status(row)
