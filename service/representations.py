"""Rows to wire JSON. Plain functions, not marshmallow dumps: they run on every
read; the response schemas in service.schemas describe the same shapes and
the tests check real responses against them."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

CONFIRMED_EXCLUDED = frozenset({"Draft", "Reseller Pending Approval", "Cancelled by Reseller"})


def timestamp(value: datetime.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


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


def execution_status(order_row: Mapping[str, Any], executions: list[Mapping[str, Any]]) -> dict:
    counts = {"Completed": 0, "Failed": 0, "In Progress": 0, "Pending": 0}
    for row in executions:
        counts[row["status"]] += 1
    updated = max([order_row["updated_at"], *(row["updated_at"] for row in executions)])
    return {
        "orderId": order_row["id"],
        "status": order_row["status"],
        "startedAt": timestamp(order_row["started_at"]),
        "completedAt": timestamp(order_row["completed_at"]),
        "progress": {
            "total": len(executions),
            "completed": counts["Completed"],
            "failed": counts["Failed"],
            "inProgress": counts["In Progress"],
            "pending": counts["Pending"],
        },
        "items": [
            {
                "itemId": row["item_id"],
                "status": row["status"],
                "message": row["message"],
                "subscriptionId": row["subscription_id"],
                "updatedAt": timestamp(row["updated_at"]),
            }
            for row in executions
        ],
        "updatedAt": timestamp(updated),
    }
