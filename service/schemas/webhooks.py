"""Webhooks and their deliveries."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from service.lifecycle import EVENT_TYPES
from service.limits import MAX_URL_LENGTH
from service.schemas.common import (
    Id,
    NamedEnum,
    OpenEnum,
    Request,
    Response,
    StrictBoolean,
    Text,
    is_storable,
)
from service.webhooks.addresses import UrlRefused, parse

WEBHOOK_READ_ONLY = ("id", "secret", "createdAt")
DELIVERY_STATES = ("pending", "succeeded", "failed")


class WebhookUrl(fields.String):
    """An http(s) URL with a host, at most 2,048 characters. Whether its host is
    public is checked after the body, by resolving it (422 url_not_allowed)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(
            validate=validate.Length(min=1, max=MAX_URL_LENGTH),
            metadata={
                "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://",
                "example": "https://hooks.example.com/orders",
                "description": "http or https; its host must resolve only to public addresses",
            },
            **kwargs,
        )

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not is_storable(text):
            raise ValidationError("Must be valid Unicode text without NUL characters.")
        try:
            parse(text)
        except UrlRefused as exc:
            raise ValidationError(f"Must be a webhook URL: it {exc}.") from None
        return text


def EventTypes(**kwargs) -> fields.List:  # noqa: N802 - reads like a field class
    return fields.List(
        NamedEnum("EventType", EVENT_TYPES),
        validate=validate.Length(min=1, max=100),
        allow_none=True,
        metadata={
            "description": "the event types to deliver; absent or null: every type, also types added later"
        },
        **kwargs,
    )


class WebhookCreate(Request):
    read_only = WEBHOOK_READ_ONLY
    url = WebhookUrl(required=True)
    eventTypes = EventTypes()
    description = Text(max_length=500, min_length=0, allow_none=True)
    enabled = StrictBoolean(metadata={"description": "default true"})


class WebhookPatch(Request):
    read_only = WEBHOOK_READ_ONLY
    url = WebhookUrl()
    eventTypes = EventTypes()
    description = Text(max_length=500, min_length=0, allow_none=True)
    enabled = StrictBoolean(
        metadata={"description": "true also re-enables a webhook disabled after 3 days of failures"}
    )


class Webhook(Response):
    id = Id(required=True)
    url = fields.String(required=True)
    eventTypes = fields.List(
        OpenEnum("EventType", EVENT_TYPES),
        required=True,
        metadata={"description": "clients must tolerate new values"},
    )
    description = fields.String(required=True, allow_none=True)
    enabled = fields.Boolean(
        required=True, metadata={"description": "false: nothing is delivered and no deliveries are made"}
    )
    createdAt = fields.DateTime(required=True)


class CreatedWebhook(Webhook):
    secret = fields.String(
        required=True,
        metadata={
            "example": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "description": "shown only in this answer: the key to verify signatures with",
        },
    )


class Delivery(Response):
    id = Id(required=True)
    eventId = fields.String(required=True, metadata={"example": "evt_42"})
    eventType = OpenEnum("EventType", EVENT_TYPES, required=True)
    status = OpenEnum("DeliveryStatus", DELIVERY_STATES, required=True, description="clients must tolerate new values")
    attempts = fields.Integer(required=True)
    lastAttemptAt = fields.DateTime(required=True, allow_none=True)
    lastResponseStatus = fields.Integer(
        required=True, allow_none=True, metadata={"description": "null when no HTTP answer came"}
    )
    lastError = fields.String(required=True, allow_none=True)
    nextAttemptAt = fields.DateTime(
        required=True,
        allow_none=True,
        metadata={"description": "null once it succeeded or failed, and while the webhook is disabled"},
    )
