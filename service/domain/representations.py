"""Rows to wire JSON. Plain functions, not marshmallow dumps: they run on every
read; the response schemas in service.schemas describe the same shapes and
the tests check real responses against them.

`etag` is the tag of a representation: a hash of exactly the bytes a GET
answers, so it changes when, and only when, the representation does; a write
guarded by If-Match computes it the same way from the row it has locked."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from service.errors import PreconditionFailed

def etag_of_body(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def etag(data: Any) -> str:
    return etag_of_body(orjson.dumps(data))


def tag_matches(header: str, tag: str, *, weak: bool) -> bool:
    """Whether an If-Match / If-None-Match header names `tag` (RFC 9110 13.1.1-2).
    If-None-Match compares weakly (W/"x" matches "x"); If-Match strongly."""
    header = header.strip()
    if header == "*":
        return True
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            if not weak:
                continue
            candidate = candidate[2:]
        if candidate == tag:
            return True
    return False


def require_match(if_match: str | None, data: Any) -> None:
    """412 unless If-Match (when sent) names the current tag of `data`."""
    if if_match is not None and not tag_matches(if_match, etag(data), weak=False):
        raise PreconditionFailed("The resource changed since that ETag; read it again")


def timestamp(value: datetime.datetime | None) -> str | None:
    """RFC 3339 in UTC with microseconds: 2026-11-27T22:49:53.704197Z. Formatted by
    orjson, four times faster than isoformat(); an order has three of these."""
    if value is None:
        return None
    if value.tzinfo is not datetime.UTC:  # asyncpg hands out UTC already; others are converted
        value = value.astimezone(datetime.UTC)
    text = orjson.dumps(value, option=orjson.OPT_UTC_Z)[1:-1].decode()
    # orjson leaves out a fraction of zero; the wire format always has six digits.
    return text if value.microsecond else text[:-1] + ".000000Z"


def day(value: datetime.date | None) -> str | None:
    return None if value is None else value.isoformat()


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def order(row: Mapping[str, Any]) -> dict:
    return {
        "id": row["id"],
        "accountId": row["account_id"],
        "accountName": row["account_name"],
        "status": row["status"],
        "orderDate": day(row["order_date"]),
        "expirationDate": day(row["expiration_date"]),
        "currency": row["currency"],
        "total": money(row["total"]),
        "itemCount": row["item_count"],
        "notes": row["notes"],
        "createdAt": timestamp(row["created_at"]),
        "updatedAt": timestamp(row["updated_at"]),
        "checkedOutAt": timestamp(row["checked_out_at"]),
        "submittedBy": row["submitted_by"],
        "decidedBy": row["decided_by"],
        "cancellationReason": row["cancellation_reason"],
    }


def item(row: Mapping[str, Any]) -> dict:
    return {
        "id": row["id"],
        "orderId": row["order_id"],
        "action": row["action"],
        "productId": row["product_id"],
        "sku": row["sku"],
        "productName": row["product_name"],
        "quantity": row["quantity"],
        "billingCycle": row["billing_cycle"],
        "unitPrice": money(row["unit_price"]),
        "totalPrice": money(row["total_price"]),
        "status": row["status"],
        "subscriptionId": row["subscription_id"],
    }


def product(row: Mapping[str, Any]) -> dict:
    return {
        "id": row["id"],
        "sku": row["sku"],
        "name": row["name"],
        "billingCycles": list(row["billing_cycles"]),
        "unitPrices": row["unit_prices"],
        "currency": row["currency"],
        "characteristics": row["characteristics"],
    }


def account(row: Mapping[str, Any]) -> dict:
    return {
        "id": row["id"],
        "name": row["name"],
        "type": row["type"],
        "approvalRequired": row["approval_required"],
    }


def subscription(row: Mapping[str, Any]) -> dict:
    return {
        "id": row["id"],
        "accountId": row["account_id"],
        "accountName": row["account_name"],
        "productId": row["product_id"],
        "sku": row["sku"],
        "productName": row["product_name"],
        "quantity": row["quantity"],
        "billingCycle": row["billing_cycle"],
        "unitPrice": money(row["unit_price"]),
        "currency": row["currency"],
        "status": row["status"],
        "externalId": row["external_id"],
        "orderId": row["order_id"],
        "itemId": row["item_id"],
        "createdAt": timestamp(row["created_at"]),
        "updatedAt": timestamp(row["updated_at"]),
        "cancelledAt": timestamp(row["cancelled_at"]),
    }


def reseller(row: Mapping[str, Any]) -> dict:
    return {
        "id": row["id"],
        "name": row["name"],
        "edition": row["edition"],
        "accountId": row["account_id"],
        "approvalRequired": row["approval_required"],
    }


def reseller_settings(row: Mapping[str, Any]) -> dict:
    return {
        "approvalRequired": row["approval_required"],
        "updatedAt": timestamp(row["settings_updated_at"]),
        "updatedBy": row["settings_updated_by"],
    }


def event(row: Mapping[str, Any]) -> dict:
    return {
        "id": f"evt_{row['id']}",
        "type": row["type"],
        "occurredAt": timestamp(row["occurred_at"]),
        "orderId": row["order_id"],
        "accountId": row["account_id"],
        "actor": {"type": row["actor_type"], "clientId": row["actor_client_id"]},
        "data": row["data"],
    }


def custom_field_definition(row: Mapping[str, Any]) -> dict:
    return {
        "name": row["name"],
        "label": row["label"],
        "type": row["type"],
        "required": row["required"],
        "options": list(row["options"]),
        "publishedToStorefront": row["published_to_storefront"],
    }


def execution_status(row: Mapping[str, Any]) -> dict:
    """From `order_execution`: the order's columns and its records as parallel arrays."""
    item_ids = row["item_ids"] or []
    records = list(
        zip(
            item_ids,
            row["statuses"] or [],
            row["messages"] or [],
            row["subscription_ids"] or [],
            row["updated"] or [],
            strict=True,
        )
    )
    counts = {"Completed": 0, "Failed": 0, "In Progress": 0, "Pending": 0}
    for record in records:
        counts[record[1]] += 1
    updated = max([row["updated_at"], *(record[4] for record in records)])
    return {
        "orderId": row["id"],
        "status": row["status"],
        "startedAt": timestamp(row["started_at"]),
        "completedAt": timestamp(row["completed_at"]),
        "progress": {
            "total": len(records),
            "completed": counts["Completed"],
            "failed": counts["Failed"],
            "inProgress": counts["In Progress"],
            "pending": counts["Pending"],
        },
        "items": [
            {
                "itemId": item_id,
                "status": status,
                "message": message,
                "subscriptionId": subscription_id,
                "updatedAt": timestamp(updated_at),
            }
            for item_id, status, message, subscription_id, updated_at in records
        ],
        "updatedAt": timestamp(updated),
    }
