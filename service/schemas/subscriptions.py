"""Subscriptions, the reference a change item makes to one, and an account's approval setting."""

from __future__ import annotations

from marshmallow import ValidationError, fields

from service.lifecycle import SUBSCRIPTION_STATUSES
from service.schemas.common import MAX_ID, Id, OpenEnum, Request, Response, StrictBoolean

_REF_SCHEMA = {
    "anyOf": [
        {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID},
        {"type": "string", "pattern": "^[0-9]{1,19}$"},
        {"type": "null"},
    ],
    "description": "the subscription this item changes, as `GET /api/subscriptions` shows its `id` (a "
    "number) or as an item's `subscriptionId` shows it (the same id as a string); absent or null: "
    "the item is a purchase",
    "example": 1,
}


class SubscriptionRef(fields.Field):
    """A subscription's id: a JSON number, or the decimal string an item's `subscriptionId` shows."""

    def __init__(self, **kwargs) -> None:
        super().__init__(allow_none=True, metadata={"openapi": _REF_SCHEMA}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
            raise ValidationError("Must be a subscription id: a positive whole number, or it as a decimal string.")
        return value


class Subscription(Response):
    id = Id(required=True)
    accountId = Id(required=True)
    accountName = fields.String(required=True)
    productId = Id(required=True)
    sku = fields.String(required=True)
    productName = fields.String(required=True)
    quantity = fields.Integer(required=True)
    billingCycle = fields.String(required=True)
    unitPrice = fields.String(required=True, metadata={"example": "12.50"})
    currency = fields.String(required=True)
    status = OpenEnum(
        "SubscriptionStatus",
        SUBSCRIPTION_STATUSES,
        required=True,
        description="Active, or Cancelled once a cancel item completed; clients must tolerate new values",
    )
    externalId = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "the fulfillment connector's own id of it, when the connector gave one"},
    )
    orderId = Id(required=True, metadata={"description": "the order that bought it"})
    itemId = Id(required=True, metadata={"description": "the purchase item that became it"})
    createdAt = fields.DateTime(required=True)
    updatedAt = fields.DateTime(required=True)
    cancelledAt = fields.DateTime(required=True, allow_none=True)


class AccountSettings(Request):
    approvalRequired = StrictBoolean(
        required=True,
        allow_none=True,
        metadata={
            "description": "true: every checkout for this account waits for approval; false: none does; "
            "null: follow the reseller's `approvalRequired` (`GET /api/settings`)"
        },
    )
