"""Rows to wire JSON. Plain functions, not marshmallow dumps: they run on every
read; the response schemas in service.schemas describe the same shapes and
the tests check real responses against them."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

_ZERO = datetime.timedelta(0)
CONFIRMED_EXCLUDED = frozenset({"Draft", "Reseller Pending Approval", "Cancelled by Reseller"})


def timestamp(value: datetime.datetime | None) -> str | None:
    if value is None:
        return None
    if value.utcoffset() != _ZERO:  # asyncpg hands out UTC already; others are converted
        value = value.astimezone(datetime.UTC)
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


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
    }


def item(row: Mapping[str, Any]) -> dict:
    return {
        "id": row["id"],
        "orderId": row["order_id"],
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
    return {"id": row["id"], "name": row["name"], "type": row["type"]}


def reseller(row: Mapping[str, Any]) -> dict:
    return {"id": row["id"], "name": row["name"], "edition": row["edition"], "accountId": row["account_id"]}


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
