"""What each route takes and answers, for the OpenAPI document (service.openapi).

One entry per handler. Errors every route of a kind can give (401, the
edition's 403, a JSON body's 400/413/415/422, 503, ...) are added by
service.openapi from where the route lives and what it reads; an entry lists
only the errors of its own logic."""

from __future__ import annotations

import dataclasses
from typing import Any

from service import errors as e
from service.routes import admin, catalog, health, items, oauth, orders
from service.schemas import admin as a
from service.schemas import common as c
from service.schemas import orders as o


@dataclasses.dataclass(frozen=True, kw_only=True)
class Doc:
    summary: str
    tag: str
    description: str = ""
    status: int = 200
    returns: Any = None  # a response schema class, or {"type": "array", "items": class}; None: no body
    returns_description: str = "OK"
    body: Any = None  # the request schema the handler loads with
    form: bool = False  # the body is application/x-www-form-urlencoded, not JSON
    query: tuple[str, ...] = ()
    errors: tuple[type[e.ServiceError], ...] = ()
    headers: tuple[str, ...] = ()  # response headers besides X-Request-Id
    database: bool = True  # it reads the database, so it can answer 503
    example: str | None = None  # a key of EXAMPLES when the response's own does not fit

    @staticmethod
    def _key(schema: Any) -> str:
        return schema.__name__ if isinstance(schema, type) else schema["items"].__name__ + "List"

    @property
    def example_key(self) -> str:
        return self.example or self._key(self.returns)

    @property
    def body_example_key(self) -> str:
        return self._key(self.body)


PAGE = ("pageSize", "cursor")
VALUES = {"type": "array", "items": o.Value}
VALUE_ENTRIES = {"type": "array", "items": o.ValueEntry}
# One page class per item schema: apispec names components by class name.
AccountPage, ProductPage, OrderPage, ItemPage = (
    o.page_of(s) for s in (a.Account, a.Product, o.Order, o.Item)
)
DRAFT_ONLY = "Only while the order is a Draft."

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
}
_item = {
    "id": 1,
    "orderId": 1,
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
_account = {"id": 2, "name": "Contoso", "type": "Customer"}
_value = {
    "name": "po_number",
    "label": "PO number",
    "type": "text",
    "required": True,
    "options": [],
    "value": "PO-7",
}
_checked_out = dict(_order, status="Pending", expirationDate=None, checkedOutAt="2025-06-02T09:20:00Z")

EXAMPLES: dict[str, Any] = {
    "Live": {"status": "ok"},
    "Ready": {"status": "ok", "migration": 1},
    "TokenRequest": {"grant_type": "client_credentials"},
    "AccessToken": {"access_token": "eyJjIjoi...", "token_type": "Bearer", "expires_in": 3600},
    "ResellerCreate": {"name": "Acme Cloud", "edition": "Standard"},
    "ResellerPatch": {"edition": "Free"},
    "Reseller": {"id": 1, "name": "Acme Cloud", "edition": "Standard", "accountId": 1},
    "CustomerCreate": {"name": "Contoso"},
    "Account": _account,
    "Credentials": {"clientId": "ro_0123456789abcdef", "clientSecret": "n3v3r-sh0wn-ag41n"},
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
    "ItemCreate": {
        "productId": 1,
        "quantity": 2,
        "billingCycle": "Monthly",
        "characteristics": [{"name": "domain", "value": "example.com"}],
    },
    "Item": _item,
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
                "subscriptionId": "sub-981",
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
        "items": [{"id": 1, "name": "Acme Cloud", "type": "Reseller"}, _account],
        "nextCursor": None,
    },
    "ProductPage": {"items": [_product], "nextCursor": "WyJwcm9kdWN0cyIsIDFd"},
    "OrderPage": {"items": [_checked_out], "nextCursor": None},
    "ItemPage": {"items": [_item], "nextCursor": None},
}
PROBLEM_EXAMPLE = {"detail": "See `errors`", "errors": [], "requestId": "4f1c2a9be0d14c57a1e3b3f1d2c4e5f6"}

OPERATIONS: dict[Any, Doc] = {
    health.live: Doc(summary="Liveness: the process serves", tag="Health", returns=c.Live, database=False),
    health.ready: Doc(
        summary="Readiness: the database answers and migrations are current",
        tag="Health",
        returns=c.Ready,
        description="503 while the database does not answer within 1 s, migrations are pending, or the service is shutting down.",
    ),
    oauth.token: Doc(
        summary="Exchange API credentials for an access token",
        tag="Authentication",
        returns=a.AccessToken,
        body=a.TokenRequest,
        form=True,
        errors=(e.UnsupportedGrantType, e.InvalidClient, e.UnsupportedMediaType, e.PayloadTooLarge),
        description="HTTP Basic `clientId:clientSecret`; the token is sent as `Authorization: Bearer` on `/api/*`.",
    ),
    admin.create_reseller: Doc(
        summary="Create a reseller and its own account",
        tag="Operator",
        status=201,
        returns=a.Reseller,
        returns_description="Created",
        body=a.ResellerCreate,
        headers=("Location",),
    ),
    admin.get_reseller: Doc(summary="Read a reseller", tag="Operator", returns=a.Reseller),
    admin.change_edition: Doc(
        summary="Change a reseller's edition",
        tag="Operator",
        returns=a.Reseller,
        body=a.ResellerPatch,
        description="Takes effect for tokens already issued within 5 s.",
    ),
    admin.create_customer: Doc(
        summary="Add an end customer account",
        tag="Operator",
        status=201,
        returns=a.Account,
        returns_description="Created",
        body=a.CustomerCreate,
    ),
    admin.create_credentials: Doc(
        summary="Issue API credentials",
        tag="Operator",
        status=201,
        returns=a.Credentials,
        returns_description="Created",
        description="The secret is shown here once; only its hash is stored.",
    ),
    admin.revoke_credentials: Doc(
        summary="Revoke API credentials",
        tag="Operator",
        status=204,
        returns_description="Revoked",
        description="Tokens already issued stop working within 5 s.",
    ),
    admin.create_product: Doc(
        summary="Add a product to the catalog",
        tag="Operator",
        status=201,
        returns=a.Product,
        returns_description="Created",
        body=a.ProductCreate,
        errors=(e.AlreadyExists,),
        description="`unitPrices` has exactly one price per billing cycle; a `select` needs `options`.",
    ),
    admin.create_custom_field: Doc(
        summary="Define an order custom field of a reseller",
        tag="Operator",
        status=201,
        returns=a.CustomFieldDefinition,
        returns_description="Created",
        body=a.CustomFieldCreate,
        errors=(e.AlreadyExists,),
    ),
    catalog.accounts: Doc(
        summary="Accounts selectable for orders",
        tag="Catalog",
        returns=AccountPage,
        query=PAGE,
        description="The reseller's own account (`type: Reseller`) and its end customers (`type: Customer`).",
    ),
    catalog.products: Doc(summary="The product catalog", tag="Catalog", returns=ProductPage, query=PAGE),
    orders.create_order: Doc(
        summary="Create a Draft order",
        tag="Orders",
        status=201,
        returns=o.Order,
        returns_description="Created",
        body=o.OrderCreate,
        headers=("Location",),
        description="`orderDate` defaults to today (UTC) and may not be in the past; `expirationDate` is 7 days "
        "later. A foreign or unknown `accountId` answers 422 like a missing one. Read-only fields are ignored.",
    ),
    orders.list_orders: Doc(
        summary="List orders, newest first",
        tag="Orders",
        returns=OrderPage,
        query=("stage", "accountId", "status", "fromDate", "toDate", *PAGE),
        description="Orders of the reseller and its end customers, by `orderDate` then `id`, descending.",
    ),
    orders.get_order: Doc(summary="Read an order, Draft or confirmed", tag="Orders", returns=o.Order),
    orders.checkout: Doc(
        summary="Check out a Draft: execute it",
        tag="Orders",
        status=202,
        returns=o.Order,
        returns_description="Accepted: the order is `Pending`; follow `Location`",
        headers=("Location",),
        example="CheckedOutOrder",
        errors=(e.OrderNotDraft, e.OrderEmpty, e.OrderIncomplete),
        description="422 `required_values_missing` lists every missing custom field and characteristic. "
        "Of concurrent checkouts of one order exactly one wins; the others answer 409.",
    ),
    orders.execution_status: Doc(
        summary="Execution progress of a confirmed order",
        tag="Orders",
        returns=o.ExecutionStatus,
        errors=(e.OrderNotConfirmed,),
    ),
    orders.get_custom_fields: Doc(
        summary="The order's custom fields published to Storefront",
        tag="Custom fields",
        returns=VALUES,
    ),
    orders.put_custom_fields: Doc(
        summary="Set custom field values",
        tag="Custom fields",
        returns=VALUES,
        returns_description="The full list",
        body=VALUE_ENTRIES,
        errors=(e.OrderNotDraft,),
        description=f"{DRAFT_ONLY} `null` clears a value. An unknown or unpublished name, or a value of the "
        "wrong type or option, answers 422 and nothing is changed.",
    ),
    items.add_item: Doc(
        summary="Add an item to a Draft",
        tag="Items",
        status=201,
        returns=o.Item,
        returns_description="Created",
        body=o.ItemCreate,
        headers=("Location",),
        errors=(e.OrderNotDraft,),
        description=f"{DRAFT_ONLY} Product, billing cycle, quantity and characteristic values are checked against "
        "the catalog; required characteristics may stay unset until checkout.",
    ),
    items.list_items: Doc(summary="The order's items", tag="Items", returns=ItemPage, query=PAGE),
    items.get_item: Doc(summary="Read an item", tag="Items", returns=o.Item),
    items.delete_item: Doc(
        summary="Delete an item",
        tag="Items",
        status=204,
        returns_description="Deleted",
        errors=(e.OrderNotDraft,),
        description=DRAFT_ONLY,
    ),
    items.get_characteristics: Doc(summary="The item's characteristics", tag="Items", returns=VALUES),
    items.put_characteristics: Doc(
        summary="Set characteristic values",
        tag="Items",
        returns=VALUES,
        returns_description="The full list",
        body=VALUE_ENTRIES,
        errors=(e.OrderNotDraft,),
        description=f"{DRAFT_ONLY} Validated like custom fields.",
    ),
}
