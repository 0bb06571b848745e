"""Examples of every body the OpenAPI document shows, keyed by schema name
(a list of a schema: its name + "List")."""

from __future__ import annotations

from typing import Any

_order = {
    "id": 1,
    "accountId": 2,
    "accountName": "Contoso",
    "status": "Draft",
    "orderDate": "2025-06-02",
    "expirationDate": "2025-06-09",
    "currency": "EUR",
    "total": "25.00",
    "itemCount": 1,
    "notes": "renewal",
    "createdAt": "2025-06-02T09:15:00.120000Z",
    "updatedAt": "2025-06-02T09:16:30.500000Z",
    "checkedOutAt": None,
    "submittedBy": None,
    "decidedBy": None,
    "cancellationReason": None,
}
_item = {
    "id": 1,
    "orderId": 1,
    "action": "purchase",
    "productId": 1,
    "sku": "BACKUP-100",
    "productName": "Cloud Backup",
    "quantity": 2,
    "billingCycle": "Monthly",
    "unitPrice": "12.50",
    "totalPrice": "25.00",
    "status": None,
    "subscriptionId": None,
}
_characteristic = {"name": "domain", "label": "Domain", "type": "text", "required": True, "options": []}
_product = {
    "id": 1,
    "sku": "BACKUP-100",
    "name": "Cloud Backup",
    "billingCycles": ["Monthly", "Annually"],
    "unitPrices": {"Monthly": "12.50", "Annually": "120.00"},
    "currency": "EUR",
    "characteristics": [_characteristic],
}
_account = {"id": 2, "name": "Contoso", "type": "Customer", "approvalRequired": None}
_subscription = {
    "id": 7,
    "accountId": 2,
    "accountName": "Contoso",
    "productId": 1,
    "sku": "BACKUP-100",
    "productName": "Cloud Backup",
    "quantity": 2,
    "billingCycle": "Monthly",
    "unitPrice": "12.50",
    "currency": "EUR",
    "status": "Active",
    "externalId": "bk-4471",
    "orderId": 1,
    "itemId": 1,
    "createdAt": "2025-06-02T09:20:05.000120Z",
    "updatedAt": "2025-06-02T09:20:05.000120Z",
    "cancelledAt": None,
}
_change_item = dict(
    _item, id=3, orderId=2, action="changeQuantity", quantity=5, totalPrice="62.50", subscriptionId="7"
)
_value = {
    "name": "po_number",
    "label": "PO number",
    "type": "text",
    "required": True,
    "options": [],
    "value": "PO-7",
}
_checked_out = dict(
    _order,
    status="Pending",
    expirationDate=None,
    checkedOutAt="2025-06-02T09:20:00Z",
    submittedBy="ro_0123456789abcdef",
)
_cancelled = dict(
    _checked_out,
    status="Cancelled by Reseller",
    decidedBy="ro_fedcba9876543210",
    cancellationReason="ordered twice",
)
_event = {
    "id": "evt_42",
    "type": "order.status_changed",
    "occurredAt": "2025-06-02T09:20:05.000120Z",
    "orderId": 1,
    "accountId": 2,
    "actor": {"type": "system", "clientId": None},
    "data": {"from": "Pending", "to": "In Progress"},
}
_webhook = {
    "id": 1,
    "url": "https://hooks.example.com/orders",
    "eventTypes": ["order.status_changed", "item.status_changed"],
    "description": "fulfilment dashboard",
    "enabled": True,
    "createdAt": "2025-06-02T09:00:00.000000Z",
}
_delivery = {
    "id": 7,
    "eventId": "evt_42",
    "eventType": "order.status_changed",
    "status": "pending",
    "attempts": 2,
    "lastAttemptAt": "2025-06-02T09:20:40.120000Z",
    "lastResponseStatus": 503,
    "lastError": "HTTP 503",
    "nextAttemptAt": "2025-06-02T09:22:40.130000Z",
}

EXAMPLES: dict[str, Any] = {
    "Live": {"status": "ok"},
    "Ready": {"status": "ok", "migration": 1},
    "TokenRequest": {"grant_type": "client_credentials"},
    "AccessToken": {
        "access_token": "eyJhbGciOiJFZERTQSIsImtpZCI6Ik5fN3...",
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": "orders:read orders:write orders:approve",
    },
    "ResellerCreate": {"name": "Acme Cloud", "edition": "Standard"},
    "ResellerPatch": {"approvalRequired": True},
    "Reseller": {"id": 1, "name": "Acme Cloud", "edition": "Standard", "accountId": 1, "approvalRequired": False},
    "CredentialsCreate": {"scopes": ["orders:read"]},
    "CustomerCreate": {"name": "Contoso"},
    "Account": _account,
    "SigningKeyList": [
        {"kid": "N_7q2lD0mXk8hJcQvZr1wB5yT3uE6aS9fG4hK0pLmNo", "createdAt": "2026-12-01T09:00:00.000000Z",
         "current": True},
        {"kid": "c3VwZXJzZWRlZC1rZXktaWQtZXhhbXBsZS0wMDAwMDA", "createdAt": "2026-06-01T09:00:00.000000Z",
         "current": False},
    ],
    "SigningKey": {
        "kid": "N_7q2lD0mXk8hJcQvZr1wB5yT3uE6aS9fG4hK0pLmNo",
        "createdAt": "2026-12-01T09:00:00.000000Z",
        "current": True,
    },
    "Jwks": {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                "kid": "N_7q2lD0mXk8hJcQvZr1wB5yT3uE6aS9fG4hK0pLmNo",
                "alg": "EdDSA",
                "use": "sig",
            }
        ]
    },
    "Credentials": {
        "clientId": "ro_0123456789abcdef",
        "clientSecret": "n3v3r-sh0wn-ag41n",
        "scopes": ["orders:read", "orders:write", "orders:approve"],
    },
    "ProductCreate": {
        **{k: v for k, v in _product.items() if k != "id"},
        "fulfillment": {"type": "http", "url": "https://connector.example.com"},
    },
    "Product": _product,
    "CustomFieldCreate": {"name": "po_number", "label": "PO number", "type": "text", "required": True},
    "CustomFieldDefinition": {
        **_characteristic,
        "name": "po_number",
        "label": "PO number",
        "publishedToStorefront": True,
    },
    "OrderCreate": {"accountId": 2, "notes": "renewal"},
    "Order": _order,
    "CheckedOutOrder": _checked_out,
    "CancelledOrder": _cancelled,
    "Cancellation": {"reason": "ordered twice"},
    "ResellerSettingsChange": {"approvalRequired": True},
    "ResellerSettings": {
        "approvalRequired": True,
        "updatedAt": "2025-06-02T09:15:00.000000Z",
        "updatedBy": "ro_5f2c9a1e7d3b4c60",
    },
    "Event": _event,
    "EventPage": {"items": [_event], "nextCursor": None},
    "FeedPage": {"items": [_event], "nextCursor": "WyJmZWVkIiwgNzQxLCA0Ml0"},
    # GET /api/events/stream: the opening lines, then one message per event, and a keepalive.
    "EventStream": (
        "retry: 2000\nid: WyJmZWVkIiwgNzQwLCA0MV0\n\n"
        "id: WyJmZWVkIiwgNzQxLCA0Ml0\nevent: order.status_changed\n"
        'data: {"id":"evt_42","type":"order.status_changed","occurredAt":"2025-06-02T09:20:05.000120Z",'
        '"orderId":1,"accountId":2,"actor":{"type":"system","clientId":null},'
        '"data":{"from":"Pending","to":"In Progress"}}\n\n'
        ": keepalive\n\n"
    ),
    "ItemCreate": {
        "productId": 1,
        "quantity": 2,
        "billingCycle": "Monthly",
        "characteristics": [{"name": "domain", "value": "example.com"}],
    },
    "Item": _item,
    "Subscription": _subscription,
    "SubscriptionPage": {
        "items": [
            dict(_subscription, id=8, itemId=4, orderId=3, quantity=1, externalId=None, status="Cancelled",
                 cancelledAt="2025-07-01T10:00:00.000000Z", updatedAt="2025-07-01T10:00:00.000000Z"),
            _subscription,
        ],
        "nextCursor": None,
    },
    "AccountSettings": {"approvalRequired": True},
    "ExecutionStatus": {
        "orderId": 1,
        "status": "In Progress",
        "startedAt": "2025-06-02T09:20:01Z",
        "completedAt": None,
        "progress": {"total": 2, "completed": 1, "failed": 0, "inProgress": 1, "pending": 0},
        "items": [
            {
                "itemId": 1,
                "status": "Completed",
                "message": None,
                "subscriptionId": "7",
                "updatedAt": "2025-06-02T09:20:05Z",
            },
            {
                "itemId": 2,
                "status": "In Progress",
                "message": None,
                "subscriptionId": None,
                "updatedAt": "2025-06-02T09:20:05Z",
            },
        ],
        "updatedAt": "2025-06-02T09:20:05Z",
    },
    "ValueList": [_value],
    "ValueEntryList": [{"name": "po_number", "value": "PO-7"}],
    "AccountPage": {
        "items": [{"id": 1, "name": "Acme Cloud", "type": "Reseller", "approvalRequired": None},
                  dict(_account, approvalRequired=True)],
        "nextCursor": None,
    },
    "ProductPage": {"items": [_product], "nextCursor": "WyJwcm9kdWN0cyIsIDFd"},
    "OrderPage": {"items": [_checked_out], "nextCursor": None},
    "ItemPage": {"items": [_item, _change_item], "nextCursor": None},
    "WebhookCreate": {k: _webhook[k] for k in ("url", "eventTypes", "description")},
    "WebhookPatch": {"enabled": True},
    "Webhook": _webhook,
    "CreatedWebhook": dict(_webhook, secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    "WebhookPage": {"items": [_webhook], "nextCursor": None},
    "Delivery": _delivery,
    "DeliveryPage": {
        "items": [
            _delivery,
            dict(_delivery, id=6, eventId="evt_41", status="succeeded", attempts=1, lastResponseStatus=204,
                 lastError=None, nextAttemptAt=None),
        ],
        "nextCursor": "WyJkZWxpdmVyaWVzIiwgNl0",
    },
}
# Request bodies of several kinds: one example of each (OpenAPI `examples`).
BODY_VARIANTS: dict[str, dict[str, Any]] = {
    "ItemCreate": {
        "purchase": {"summary": "Buy a product", "value": EXAMPLES["ItemCreate"]},
        "changeQuantity": {
            "summary": "Change a subscription's quantity to a new total",
            "value": {"subscriptionId": 7, "action": "changeQuantity", "quantity": 5},
        },
        "cancel": {"summary": "Cancel a subscription", "value": {"subscriptionId": 7, "action": "cancel"}},
    },
}
PROBLEM_EXAMPLE = {"detail": "See `errors`", "errors": [], "requestId": "4f1c2a9be0d14c57a1e3b3f1d2c4e5f6"}
