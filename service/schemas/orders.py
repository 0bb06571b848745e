"""Orders, items, execution status, custom fields and characteristics."""

from __future__ import annotations

import functools

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from service.lifecycle import (
    CANCEL,
    CHANGE_ACTIONS,
    CHANGE_QUANTITY,
    EVENT_TYPES,
    ITEM_ACTIONS,
    ITEM_STATUSES,
    ORDER_STATUSES,
    PURCHASE,
)
from service.limits import MAX_REASON_LENGTH
from service.schemas.common import (
    Id,
    JsonValue,
    Name,
    NamedEnum,
    OpenEnum,
    Request,
    Response,
    StrictBoolean,
    Text,
)
from service.schemas.subscriptions import SubscriptionRef

ORDER_READ_ONLY = (
    "id",
    "accountName",
    "status",
    "expirationDate",
    "currency",
    "total",
    "itemCount",
    "createdAt",
    "updatedAt",
    "checkedOutAt",
    "submittedBy",
    "decidedBy",
    "cancellationReason",
)
ITEM_READ_ONLY = (
    "id",
    "orderId",
    "sku",
    "productName",
    "unitPrice",
    "totalPrice",
    "status",
)
MISSING = "Missing data for required field."


class ValueEntry(Request):
    name = Name(required=True)
    value = JsonValue(required=True)


class OrderCreate(Request):
    read_only = ORDER_READ_ONLY
    accountId = Id(required=True)
    orderDate = fields.Date(
        metadata={"description": "defaults to today (UTC); neither in the past nor more than 366 days ahead"}
    )
    notes = Text(max_length=2000, min_length=0, allow_none=True)


class ItemCreate(Request):
    """A purchase (`productId`, `quantity`, `billingCycle`), or a change of a subscription
    (`subscriptionId`, `action`, and for changeQuantity the new `quantity`). The rules that
    tie the fields together are checked here; what needs the catalog or the subscription, in
    the domain (service.domain.items, service.domain.subscriptions)."""

    read_only = ITEM_READ_ONLY + ("orderId",)
    productId = Id(metadata={"description": "required for a purchase; a change may send its subscription's"})
    quantity = fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=100_000),
        metadata={
            "description": "required for a purchase (1 or more) and for changeQuantity (the new total, "
            "not the difference); a cancel has 0 and may leave it out"
        },
    )
    billingCycle = Text(
        max_length=40, metadata={"description": "required for a purchase; a change may send its subscription's"}
    )
    characteristics = fields.List(fields.Nested(ValueEntry), validate=validate.Length(max=50))
    subscriptionId = SubscriptionRef()
    # purchase (the default without subscriptionId), changeQuantity or cancel.
    action = NamedEnum("ItemAction", ITEM_ACTIONS)

    @validates_schema
    def _action_fits(self, data, **kwargs):
        changes = data.get("subscriptionId") is not None
        action = data.get("action", None if changes else PURCHASE)
        errors: dict[str, list[str]] = {}
        if changes and "action" not in data:
            errors["action"] = ["A change item needs an action: changeQuantity or cancel."]
        elif changes and action == PURCHASE:
            errors["action"] = ["A purchase names no subscription: use changeQuantity or cancel."]
        elif not changes and action in CHANGE_ACTIONS:
            errors["subscriptionId"] = [MISSING]
        if action == PURCHASE and not changes:
            errors.update({name: [MISSING] for name in ("productId", "billingCycle", "quantity") if name not in data})
        if action == CHANGE_QUANTITY and changes and "quantity" not in data:
            errors["quantity"] = [MISSING]
        quantity = data.get("quantity")
        if quantity == 0 and action in (PURCHASE, CHANGE_QUANTITY):
            errors["quantity"] = ["Must be greater than or equal to 1."]
        if quantity and action == CANCEL:
            errors["quantity"] = ["A cancel has quantity 0: leave it out."]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _default_action(self, data, **kwargs):
        data.setdefault("action", PURCHASE)
        return data


class Order(Response):
    id = Id(required=True)
    accountId = Id(required=True)
    accountName = fields.String(required=True)
    status = OpenEnum("OrderStatus", ORDER_STATUSES, required=True, description="clients must tolerate new values")
    orderDate = fields.Date(required=True)
    expirationDate = fields.Date(required=True, allow_none=True)
    currency = fields.String(
        required=True, allow_none=True, metadata={"description": "set by the first item"}
    )
    total = fields.String(required=True, metadata={"example": "25.00"})
    itemCount = fields.Integer(required=True)
    notes = fields.String(required=True, allow_none=True)
    createdAt = fields.DateTime(required=True)
    updatedAt = fields.DateTime(required=True)
    checkedOutAt = fields.DateTime(required=True, allow_none=True)
    submittedBy = fields.String(
        required=True, allow_none=True, metadata={"description": "clientId of the checkout; null for a Draft"}
    )
    decidedBy = fields.String(
        required=True, allow_none=True, metadata={"description": "clientId that approved or cancelled it"}
    )
    cancellationReason = fields.String(required=True, allow_none=True)


class Cancellation(Request):
    reason = Text(max_length=MAX_REASON_LENGTH, min_length=0, allow_none=True)


APPROVAL_REQUIRED = "checkouts wait in `Reseller Pending Approval` until another credential approves"


class ResellerSettingsChange(Request):
    read_only = ("updatedAt", "updatedBy")
    approvalRequired = StrictBoolean(required=True, metadata={"description": APPROVAL_REQUIRED})


class ResellerSettings(Response):
    approvalRequired = fields.Boolean(required=True, metadata={"description": APPROVAL_REQUIRED})
    updatedAt = fields.DateTime(
        required=True, allow_none=True, metadata={"description": "when they were last changed; null: never"}
    )
    updatedBy = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "who changed them last: the clientId of `PUT /api/settings`, or `operator` "
            "(`PATCH /admin/resellers/{id}`); null: never changed"
        },
    )


class Actor(Response):
    type = OpenEnum("ActorType", ("client", "operator", "system"), required=True)
    clientId = fields.String(required=True, allow_none=True)


class Event(Response):
    id = fields.String(required=True, metadata={"example": "evt_42"})
    type = OpenEnum("EventType", EVENT_TYPES, required=True, description="clients must tolerate new values")
    occurredAt = fields.DateTime(required=True)
    orderId = Id(required=True)
    accountId = Id(required=True)
    actor = fields.Nested(Actor, required=True)
    data = fields.Dict(required=True)


class Item(Response):
    id = Id(required=True)
    orderId = Id(required=True)
    action = OpenEnum(
        "ItemAction",
        ITEM_ACTIONS,
        required=True,
        description="purchase, changeQuantity or cancel; clients must tolerate new values",
    )
    productId = Id(required=True)
    sku = fields.String(required=True)
    productName = fields.String(required=True)
    quantity = fields.Integer(required=True)
    billingCycle = fields.String(required=True)
    unitPrice = fields.String(required=True)
    totalPrice = fields.String(required=True)
    status = OpenEnum(
        "ItemStatus", ITEM_STATUSES, nullable=True, required=True, description="null until the order executes"
    )
    subscriptionId = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "the subscription's id as a string: the one a change item names; for a purchase, "
            "the one it created once Completed (null before)"
        },
    )


class Progress(Response):
    total = fields.Integer(required=True)
    completed = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    inProgress = fields.Integer(required=True)
    pending = fields.Integer(required=True)


class ItemExecution(Response):
    itemId = Id(required=True)
    status = OpenEnum("ItemStatus", ITEM_STATUSES, required=True)
    message = fields.String(required=True, allow_none=True)
    subscriptionId = fields.String(required=True, allow_none=True)
    updatedAt = fields.DateTime(required=True)


class ExecutionStatus(Response):
    orderId = Id(required=True)
    status = OpenEnum("OrderStatus", ORDER_STATUSES, required=True)
    startedAt = fields.DateTime(required=True, allow_none=True)
    completedAt = fields.DateTime(required=True, allow_none=True)
    progress = fields.Nested(Progress, required=True)
    items = fields.List(fields.Nested(ItemExecution), required=True)
    updatedAt = fields.DateTime(required=True)


class Value(Response):
    name = fields.String(required=True)
    label = fields.String(required=True)
    type = fields.String(required=True)
    required = fields.Boolean(required=True)
    options = fields.List(fields.String(), required=True)
    value = JsonValue(required=True)


@functools.cache
def page_of(schema: type[Response]) -> type[Response]:
    """The list response of `schema`; one class per schema, as apispec names components by class."""
    return type(
        f"{schema.__name__}Page",
        (Response,),
        {
            "items": fields.List(fields.Nested(schema), required=True),
            "nextCursor": fields.String(required=True, allow_none=True),
        },
    )


class FeedPage(Response):
    items = fields.List(fields.Nested(Event), required=True)
    nextCursor = fields.String(
        required=True, metadata={"description": "never null: where to read next, also after the last page"}
    )
