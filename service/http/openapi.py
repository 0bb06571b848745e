"""The OpenAPI 3.1 document, built once when the app is created, and the docs UI.

Paths and methods come from the application's router; what each operation
takes and answers comes from its handler's @endpoint declaration
(service.http.endpoint). Bodies are
the marshmallow schemas the handlers validate with and the response schemas
the tests check real responses against, converted by apispec. A route without
a description, or a description without a route, stops the app from being
built, so the document cannot drift from the code."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import fields, validate
from swagger_ui import core as swagger_ui

from service import errors as e
from service.http import idempotency
from service.http.endpoint import Doc
from service.http.examples import BODY_VARIANTS, EXAMPLES, PROBLEM_EXAMPLE
from service.http.protocol import NotHttp
from service.schemas.admin import Price
from service.schemas.common import ENUMS, MAX_ID, Problem, Text
from service.secretbox import SecretKeyUnavailable

TITLE = "Reseller Ordering API"
API_VERSION = "3.0"
DOCUMENT_PATH = "/api/openapi.json"
DOCS_PATH = "/api/docs"
METRICS_PATH = "/metrics"
# Not API operations: the docs UI, the approver's console, and /metrics (the
# operator's Prometheus, in its own format; docs/how-to/operate.md).
UNDOCUMENTED_PREFIXES = (DOCUMENT_PATH, DOCS_PATH, "/console", METRICS_PATH)
OPENAPI_DOCUMENT = web.AppKey("openapi_document", bytes)

PROBLEM_JSON = "application/problem+json"
NO_NUL = "^[^\\x00]*$"
MONEY = "^[0-9]{1,12}(\\.[0-9]{1,2})?$"
_PARAM = re.compile(r"\{(\w+)\}")

DESCRIPTION = """\
Build, execute and follow orders for a reseller's own account and its end customers' accounts.

* Resellers call `/api/*` with `Authorization: Bearer <access_token>` from `POST /oauth/token`
  (HTTP Basic `clientId:clientSecret`, form `grant_type=client_credentials`).
  The access token is a JWT signed with `EdDSA` (Ed25519); a gateway verifies it with the public keys
  at `/.well-known/jwks.json` (claims `sub` = clientId, `scope`, `iat`, `exp`; header `kid`).
* Operators call `/admin/*` with `Authorization: Bearer <ADMIN_TOKEN>`. After 10 wrong operator
  tokens from one address within a minute, `/admin/*` answers it 429 `too_many_failed_attempts` with
  `Retry-After`, a right token too.
* Every error is `application/problem+json` with a stable `code`; each response below lists the
  codes it can carry. Checks run in this order: authentication (401), tenant scope of the ids in
  the path (404), edition (403), body (422), state (409).
* Lists take `pageSize` (1..200, default 50) and the opaque `cursor` of the previous page.
* Ids are positive 64-bit integers; an id in a path that is not one, or has more than 18 digits,
  answers 404.
* `X-Api-Version` may be absent or `3.0`. Every response carries `X-Request-Id`.
* Every `POST` under `/api` takes an optional `Idempotency-Key` (1-255 printable ASCII characters),
  scoped to the credential (`clientId`) that sends it: a repeat of the same request (method, path,
  JSON body compared as parsed JSON) within the key's lifetime (24 h by default) is not applied
  again and answers the first
  answer's status, body and `Location` with `Idempotent-Replayed: true`. The same key with another
  request answers 422 `idempotency_key_reused`; while the first is still running, 409
  `idempotency_key_in_progress` with `Retry-After`. Answers of 500 and above are not stored: the key
  stays free and nothing was applied. A call the credential may not make (403) is not stored.
* `GET` of an order, an item, custom fields and characteristics answers an `ETag`; `If-None-Match`
  with it answers 304. Writes that take `If-Match` answer 412 `precondition_failed` and change
  nothing unless it names the current tag; it is checked after the body (422), before state (409).
* A request that is not valid HTTP (a request line or header over 8 KiB, a malformed header)
  answers 400 `bad_request`; one whose body stops arriving for `BODY_TIMEOUT_SECONDS` answers 408.
* Each credential may send `RATE_LIMIT_PER_MINUTE` requests a minute under `/api` (1200 unless the
  deployment says otherwise), in bursts of up to that many; over it answers 429 `rate_limited` with
  `Retry-After`. Every authenticated `/api` answer carries `RateLimit-Policy` and `RateLimit`.
* 503 `database_unavailable` comes with `Retry-After`. After a change was sent, its `detail` says
  when the change may have been applied; `Idempotency-Key` makes the retry safe.
* One reseller never holds back another: a reseller's requests hold at most half of each server
  process's database connections. A request that waits too long for one answers 503
  `database_busy`; a change that waits too long for an order another change holds answers 409
  `order_busy`. Both come with `Retry-After`, change nothing and leave an `Idempotency-Key` free.
* A 422 lists at most 50 entries in `errors`; its `detail` says how many more there were.
"""

_id = {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID, "example": 1}
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "orderId": {"schema": _id, "description": "an order of yours or of one of your customers"},
    "accountId": {"schema": _id, "description": "your own account or one of your customers'"},
    "subscriptionId": {"schema": _id, "description": "a subscription of yours or of one of your customers"},
    "itemId": {"schema": _id, "description": "an item of that order"},
    "resellerId": {"schema": _id, "description": "a reseller"},
    "webhookId": {"schema": _id, "description": "a webhook of yours"},
    "deliveryId": {"schema": _id, "description": "a delivery of that webhook"},
    "clientId": {
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_]{1,64}$", "example": "ro_0123456789abcdef"},
        "description": "the clientId of API credentials",
    },
    "kid": {
        "schema": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]{1,64}$",
            "example": "N_7q2lD0mXk8hJcQvZr1wB5yT3uE6aS9fG4hK0pLmNo",
        },
        "description": "a signing key's id (the `kid` header of the tokens it signs)",
    },
}

QUERY_PARAMETERS: dict[str, dict[str, Any]] = {
    "pageSize": {
        "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
        "description": "items per page",
    },
    "cursor": {
        "schema": {"type": "string", "maxLength": 512, "pattern": "^[A-Za-z0-9_-]*$"},
        "description": "opaque; the `nextCursor` of the previous page of the same list",
    },
    "stage": {
        "schema": {"type": "string", "enum": ["Confirmed", "Draft", "All"], "default": "Confirmed"},
        "description": "matched case-insensitively (`draft` works too). Draft: status `Draft`. Confirmed: "
        "every status except `Draft`, `Reseller Pending Approval` and `Cancelled by Reseller`. All: everything.",
    },
    # Component names differ from the names in requests where a path parameter has the name.
    "accountIdFilter": {"name": "accountId", "schema": _id, "description": "only those of this account"},
    "productIdFilter": {"name": "productId", "schema": _id, "description": "only those of this product"},
    "status": {
        "schema": {"type": "string", "maxLength": 64, "pattern": NO_NUL, "example": "Completed"},
        "description": "only orders with exactly this status",
    },
    "subscriptionStatus": {
        "name": "status",
        "schema": {"type": "string", "maxLength": 64, "pattern": NO_NUL, "example": "Active"},
        "description": "only subscriptions with exactly this status (`Active`, `Cancelled`)",
    },
    "fromDate": {
        "schema": {"type": "string", "format": "date"},
        "description": "only orders with `orderDate` on or after",
    },
    "toDate": {
        "schema": {"type": "string", "format": "date"},
        "description": "only orders with `orderDate` on or before",
    },
    "type": {
        "schema": {"$ref": "#/components/schemas/EventType"},
        "description": "only events of this type",
    },
    # Its component name differs from the path parameter's; its name in requests is orderId.
    "orderIdFilter": {"name": "orderId", "schema": _id, "description": "only events of this order"},
}

HEADER_PARAMETERS = {
    "X-Api-Version": {
        "in": "header",
        "name": "X-Api-Version",
        "required": False,
        "schema": {"$ref": "#/components/schemas/ApiVersion"},
        "description": "absent or `3.0`; anything else answers 400 `unsupported_api_version`",
    },
    "X-Request-Id": {
        "in": "header",
        "name": "X-Request-Id",
        "required": False,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
        "description": "echoed in the response and its logs; another value is replaced by a generated one",
    },
}

CONDITIONAL_PARAMETERS = {
    idempotency.HEADER: {
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": idempotency.MAX_KEY_LENGTH,
            "pattern": idempotency.KEY_PATTERN,
            "example": "6f1c2a9e-8d1b-4a57-9a43-1f0c6b2e7d55",
        },
        "description": "makes a retry of this request safe: the first answer (below 500) is stored with "
        "the effect for the key's lifetime and replayed to a repeat of the same request, which is not "
        "applied again; another request with this key answers 422, and a repeat while the first is "
        "running 409. A random UUID per logical request is a good key.",
    },
    "If-None-Match": {
        "schema": {"type": "string", "maxLength": 1024},
        "description": "an ETag from an earlier answer: 304 without a body while it is still current",
    },
    "If-Match": {
        "schema": {"type": "string", "maxLength": 1024},
        "description": "the ETag this change is meant for: 412 `precondition_failed` and no change "
        "unless it is still current",
    },
    "Last-Event-ID": {
        "schema": {"type": "string", "maxLength": 512, "pattern": "^[A-Za-z0-9_-]*$"},
        "description": "the `id` of the last message received: the stream resumes right after it "
        "(EventSource sends it when it reconnects); it wins over `cursor`",
    },
}

RESPONSE_HEADERS = {
    "X-Request-Id": {
        "schema": {"type": "string"},
        "required": True,
        "description": "the request's id, sent or generated",
    },
    "Location": {
        "schema": {"type": "string"},
        "required": True,
        "description": "where the result can be read",
    },
    "WWW-Authenticate": {
        "schema": {"type": "string"},
        "required": True,
        "description": "the scheme to authenticate with; with `error=\"insufficient_scope\"` the scope needed",
    },
    "ETag": {
        "schema": {"type": "string"},
        "required": True,
        "description": "the representation's tag, for `If-None-Match` and `If-Match`",
    },
    idempotency.REPLAYED: {
        "schema": {"type": "string", "enum": ["true"]},
        "required": False,
        "description": "present on a stored answer sent again for a repeated `Idempotency-Key` (any "
        "stored status, errors included); that request was not applied again",
    },
    "Cache-Control": {
        "schema": {"type": "string", "example": "public, max-age=300"},
        "required": True,
        "description": "how long the answer may be kept",
    },
    "Retry-After": {
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
        "required": False,
        "description": "seconds to wait before trying again, when the answer says so",
    },
    "ScopeChallenge": {
        "schema": {"type": "string"},
        "required": False,
        "description": 'with `insufficient_scope`: `Bearer error="insufficient_scope", scope="<needed>"`',
    },
    "RateLimit-Policy": {
        "schema": {"type": "string", "example": '"default";q=1200;w=60'},
        "description": "the credential's limit: `q` requests per `w` seconds, in bursts of up to `q` "
        "(absent while the deployment runs without limits)",
    },
    "RateLimit": {
        "schema": {"type": "string", "example": '"default";r=1199;t=1'},
        "description": "`r` requests left now, `t` seconds until the full `q` is available again",
    },
}
RATE_LIMIT_HEADERS = ("RateLimit-Policy", "RateLimit")

SECURITY_SCHEMES = {
    "resellerToken": {
        "type": "oauth2",
        "description": "an access token from `POST /oauth/token`, sent as `Authorization: Bearer`: a JWT "
        "(EdDSA) that the keys at `/.well-known/jwks.json` verify",
        "flows": {
            "clientCredentials": {
                "tokenUrl": "/oauth/token",
                "scopes": {
                    "orders:read": "every GET under /api",
                    "orders:write": "create and change drafts, check out, manage webhooks and settings",
                    "orders:approve": "approve and cancel orders waiting for approval; set an account's "
                    "approval",
                },
            }
        },
    },
    "operatorToken": {"type": "http", "scheme": "bearer", "description": "the deployment's `ADMIN_TOKEN`"},
    "clientCredentials": {"type": "http", "scheme": "basic", "description": "`clientId:clientSecret`"},
}

STATUS_DESCRIPTIONS = {
    400: "The request cannot be read",
    401: "Not authenticated",
    403: "Not permitted: the Free edition may only read, or the token lacks the scope",
    404: "Not found, or not yours",
    409: "Not possible in the order's current state",
    412: "The resource changed since the ETag in `If-Match`",
    413: "The body is over 1 MiB",
    415: "The body is not of the required media type",
    408: "The request body stopped arriving; the connection is closed",
    422: "The request is not valid; `errors` names each field",
    429: "Too many requests or open streams; wait `Retry-After` seconds",
    503: "The database is not available right now, or the service is shutting down; retry after "
    "`Retry-After` seconds. `database_unavailable` after a change was sent says in `detail` whether it "
    "may have been applied",
}


def _field_extras(self, field: fields.Field, ret: dict, **kwargs: Any) -> dict:
    """What apispec cannot see: rules kept in our field classes' code."""
    extras: dict[str, Any] = {}
    if isinstance(field, Text):
        extras["pattern"] = NO_NUL  # PostgreSQL refuses NUL in text; the field does too
    if isinstance(field, Price):
        extras.update(pattern=MONEY, example="12.50")
    if isinstance(field, fields.Integer) and any(
        isinstance(v, validate.Range) and v.max == MAX_ID for v in field.validators
    ):
        extras["format"] = "int64"
    if isinstance(field, fields.Url):
        extras["format"] = "uri"  # apispec says "url", which JSON Schema does not know
    if field.allow_none and "enum" in ret and None not in ret["enum"]:
        extras["enum"] = [*ret["enum"], None]
    if "openapi" in field.metadata:
        # The property's whole schema, put in place by _finish (apispec can only add keys).
        extras["x-replace"] = field.metadata["openapi"]
    return extras


# Schemas written by hand where marshmallow cannot say it: the catalog's
# fulfillment is one of two shapes, and an http connector needs its url. Each
# shape is a component of its own, so the discriminator's mapping can name it.
FULFILLMENT_SHAPES = {
    "InstantFulfillment": {
        "type": "object",
        "title": "InstantFulfillment",
        "properties": {"type": {"type": "string", "const": "instant"}},
        "required": ["type"],
        "additionalProperties": False,
    },
    "HttpFulfillment": {
        "type": "object",
        "title": "HttpFulfillment",
        "properties": {
            "type": {"type": "string", "const": "http"},
            "url": {"type": "string", "format": "uri", "maxLength": 500, "pattern": "^https?://"},
        },
        "required": ["type", "url"],
        "additionalProperties": False,
    },
}
FULFILLMENT = {
    "oneOf": [{"$ref": f"#/components/schemas/{name}"} for name in FULFILLMENT_SHAPES],
    "discriminator": {
        "propertyName": "type",
        "mapping": {
            "instant": "#/components/schemas/InstantFulfillment",
            "http": "#/components/schemas/HttpFulfillment",
        },
    },
}


def _finish(document: dict) -> dict:
    """What apispec cannot express, applied to the built document."""
    schemas = document["components"]["schemas"]
    schemas["ApiVersion"] = {"type": "string", "enum": [API_VERSION]}
    for name, values in ENUMS.items():
        schemas[name] = {"type": "string", "enum": list(values)}
    if "Fulfillment" in schemas:
        schemas["Fulfillment"] = FULFILLMENT
        schemas.update(FULFILLMENT_SHAPES)
    for name, schema in schemas.items():
        schemas[name] = _replaced(schema)
    return document


def _replaced(node: Any) -> Any:
    """The node with every schema marked `x-replace` (see _field_extras) swapped for its replacement."""
    if isinstance(node, dict):
        if "x-replace" in node:
            return node["x-replace"]
        return {key: _replaced(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_replaced(value) for value in node]
    return node


def _openapi_path(canonical: str) -> str:
    """aiohttp's /api/orders/{order_id} as /api/orders/{orderId}."""

    def camel(match: re.Match) -> str:
        head, *rest = match[1].split("_")
        return "{" + head + "".join(part.title() for part in rest) + "}"

    return _PARAM.sub(camel, canonical)


def documented_routes(app: web.Application) -> Iterator[tuple[str, str, Any]]:
    """(method, OpenAPI path, handler) of every route the document must describe."""
    for route in app.router.routes():
        canonical = route.resource.canonical if route.resource is not None else ""
        # HEAD is GET without a body (aiohttp adds one per GET); the document and
        # the docs UI describe the API, not themselves.
        if route.method == "HEAD" or canonical.startswith(UNDOCUMENTED_PREFIXES):
            continue
        yield route.method.lower(), _openapi_path(canonical), route.handler


def _problem(status: int, kinds: list[type[e.ServiceError]], field_codes: list[str]) -> dict:
    """One error response: the shared Problem schema, with the codes it may carry listed in
    its description and, for tools, in `x-problem-codes` / `x-field-codes` (the `code` of
    each entry of `errors`). Not a narrowed schema per response: generated clients then
    parse every error into one typed Problem model."""
    codes = sorted(dict.fromkeys(kind.code for kind in kinds))
    first = kinds[0]
    example = dict(
        PROBLEM_EXAMPLE, type=f"/problems/{first.code}", title=first().title, status=status, code=first.code
    )
    description = f"{STATUS_DESCRIPTIONS[status]}. `code`: " + ", ".join(f"`{c}`" for c in codes)
    response: dict[str, Any] = {"description": description, "x-problem-codes": codes}
    if status == 422 and field_codes:
        example["errors"] = [{"field": "quantity", "code": "invalid", "message": "Must be greater than or equal to 1."}]
        response["description"] += ". `errors[].code`: " + ", ".join(f"`{c}`" for c in field_codes)
        response["x-field-codes"] = field_codes
    headers = {"X-Request-Id": "X-Request-Id"}
    if status == 401:
        headers["WWW-Authenticate"] = "WWW-Authenticate"
    if any(kind is e.InsufficientScope for kind in kinds):
        headers["WWW-Authenticate"] = "ScopeChallenge"
    if status in (409, 429, 503):
        headers["Retry-After"] = "Retry-After"
    if any(kind is e.RateLimited for kind in kinds):
        headers.update({name: name for name in RATE_LIMIT_HEADERS})
    response["headers"] = headers
    response["content"] = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}, "example": example}}
    return response


def _implied_errors(method: str, path: str, doc: Doc) -> list[type[e.ServiceError]]:
    """Errors that follow from where a route lives, what it needs and what it reads."""
    implied: list[type[e.ServiceError]] = [e.UnsupportedApiVersion, NotHttp]
    if doc.database:
        implied += [e.ServiceUnavailable, e.DatabaseUnavailable, e.DatabaseBusy]
        if method.upper() in ("POST", "PUT", "PATCH", "DELETE") and path.startswith("/api/"):
            implied.append(e.OrderBusy)
    if path.startswith("/api/"):
        implied += [e.Unauthorized, e.RateLimited]
    if doc.permission is not None:
        if doc.permission.standard_only:
            implied.append(e.EditionNotPermitted)
        implied.append(e.InsufficientScope)
    if doc.if_match:
        implied.append(e.PreconditionFailed)
    if idempotency.takes_key(method, path):
        implied += [e.InvalidIdempotencyKey, e.IdempotencyKeyInProgress, e.IdempotencyKeyReused]
        if doc.answer_holds_secret:
            implied.append(SecretKeyUnavailable)  # a replay on a replica without the sealing key
    if path.startswith("/admin/"):
        implied += [e.Unauthorized, e.NotFound]  # NotFound: no ADMIN_TOKEN, no operator API
        implied.append(e.TooManyFailedAttempts)
    if "{" in path:
        implied.append(e.NotFound)
    if doc.body is not None:
        implied.append(e.RequestTimeout)
    if doc.body is not None and not doc.form:
        implied += [e.MalformedJson, e.PayloadTooLarge, e.UnsupportedMediaType, e.ValidationFailed]
    if {"pageSize", "cursor", "stage", "type", "orderIdFilter", "accountIdFilter"} & set(doc.query):
        implied.append(e.ValidationFailed)
    return implied


# Field-level codes (`errors[].code` of a 422) that follow from what a route reads.
_QUERY_FIELD_CODES = {
    "pageSize": ("invalid",),
    "cursor": ("invalid_cursor", "invalid"),
    "stage": ("invalid_stage",),
    "accountIdFilter": ("invalid",),
    "productIdFilter": ("invalid",),
    "status": ("invalid",),
    "subscriptionStatus": ("invalid",),
    "fromDate": ("invalid",),
    "toDate": ("invalid",),
    "type": ("invalid_event_type",),
    "orderIdFilter": ("invalid",),
}


def _field_codes(doc: Doc) -> list[str]:
    codes: list[str] = list(doc.field_codes)
    if doc.body is not None and not doc.form:
        codes += ["invalid", "required", "unknown_field"]
    for name in doc.query:
        codes += _QUERY_FIELD_CODES.get(name, ())
    return sorted(set(codes))


def _operation(spec: APISpec, method: str, path: str, handler: Any, doc: Doc) -> dict:
    head, *rest = handler.__name__.split("_")
    parameters: list[Any] = [name for name in PATH_PARAMETERS if "{" + name + "}" in path]
    parameters += [*doc.query, *HEADER_PARAMETERS]
    if doc.etag:
        parameters.append("If-None-Match")
    if doc.if_match:
        parameters.append("If-Match")
    keyed = idempotency.takes_key(method, path)
    if keyed:
        parameters.append(idempotency.HEADER)
    parameters += doc.request_headers
    ok: dict[str, Any] = {"description": doc.returns_description, "headers": {"X-Request-Id": "X-Request-Id"}}
    for header in doc.headers:
        ok["headers"][header] = header
    if doc.etag:
        ok["headers"]["ETag"] = "ETag"
    if keyed:
        ok["headers"][idempotency.REPLAYED] = idempotency.REPLAYED
    if path.startswith("/api/"):
        ok["headers"].update({name: name for name in RATE_LIMIT_HEADERS})
    if doc.returns is not None:
        ok["content"] = {doc.media_type: {"schema": doc.returns, "example": EXAMPLES[doc.example_key]}}
    responses = {str(doc.status): ok}
    if doc.etag:
        responses["304"] = {
            "description": "Not modified: `If-None-Match` names the current tag",
            "headers": {"X-Request-Id": "X-Request-Id", "ETag": "ETag"},
        }
    by_status: dict[int, list[type[e.ServiceError]]] = {}
    for kind in [*doc.errors, *_implied_errors(method, path, doc)]:
        by_status.setdefault(kind.status, []).append(kind)
    field_codes = _field_codes(doc)
    for status in sorted(by_status):
        responses[str(status)] = _problem(status, by_status[status], field_codes)
    operation: dict[str, Any] = {
        "operationId": head + "".join(part.title() for part in rest),
        "summary": doc.summary,
        "tags": [doc.tag],
        "parameters": parameters,
        "responses": responses,
    }
    description = doc.description
    if doc.permission is not None:
        edition = "the Standard edition and " if doc.permission.standard_only else ""
        description = f"Needs {edition}the scope `{doc.permission.scope}`. {description}".strip()
    if doc.if_match:
        description += f" With `If-Match`, only while it names {doc.if_match} current ETag (else 412)."
    if keyed:
        description += (
            f" With `{idempotency.HEADER}`, a repeat of this request is answered from the first answer "
            f"(`{idempotency.REPLAYED}: true`) and not applied again."
        )
    if description:
        operation["description"] = description
    if doc.body is not None:
        media = "application/x-www-form-urlencoded" if doc.form else "application/json"
        content: dict[str, Any] = {"schema": doc.body}
        if doc.body_example_key in BODY_VARIANTS:
            # A body of several kinds (an item: a purchase or a change) shows one example of each.
            content["examples"] = BODY_VARIANTS[doc.body_example_key]
        else:
            content["example"] = EXAMPLES[doc.body_example_key]
        operation["requestBody"] = {"required": doc.body_required, "content": {media: content}}
    security = {"/api/": "resellerToken", "/admin/": "operatorToken", "/oauth/": "clientCredentials"}
    for prefix, scheme in security.items():
        if path.startswith(prefix):
            operation["security"] = [{scheme: [doc.permission.scope] if doc.permission else []}]
    if path.startswith(("/health/", "/.well-known/")):
        operation["security"] = []
    return operation


def build_document(app: web.Application) -> dict:
    spec = APISpec(
        title=TITLE,
        version=API_VERSION,
        openapi_version="3.1.0",
        plugins=[plugin := MarshmallowPlugin()],
        info={"description": DESCRIPTION},
        servers=[{"url": "/"}],
    )
    plugin.converter.add_attribute_function(_field_extras)
    spec.components.schema("Problem", schema=Problem)
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    for name, parameter in PATH_PARAMETERS.items():
        spec.components.parameter(name, "path", dict(parameter, required=True))
    for name, parameter in QUERY_PARAMETERS.items():
        spec.components.parameter(name, "query", dict(parameter, required=False))
    for name, parameter in HEADER_PARAMETERS.items():
        spec.components.parameter(
            name, "header", {k: v for k, v in parameter.items() if k not in ("in", "name")}
        )
    for name, parameter in CONDITIONAL_PARAMETERS.items():
        spec.components.parameter(name, "header", dict(parameter, required=False))
    for name, header in RESPONSE_HEADERS.items():
        spec.components.header(name, header)

    paths: dict[str, dict[str, dict]] = {}
    for method, path, handler in documented_routes(app):
        doc = getattr(handler, "endpoint", None)
        if doc is None:
            raise LookupError(f"{method.upper()} {path} ({handler.__qualname__}) is not declared with @endpoint")
        paths.setdefault(path, {})[method] = _operation(spec, method, path, handler, doc)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return _finish(spec.to_dict())


def document_text(app: web.Application) -> str:
    """The document as `python -m service openapi` prints it and docs/openapi.json holds it."""
    return json.dumps(json.loads(app[OPENAPI_DOCUMENT]), indent=2, ensure_ascii=False) + "\n"


async def _serve_document(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_DOCUMENT], content_type="application/json")


def setup(app: web.Application) -> None:
    """Document the routes added so far; serve the document and Swagger UI."""
    app[OPENAPI_DOCUMENT] = json.dumps(build_document(app), separators=(",", ":")).encode()
    app.router.add_get(DOCUMENT_PATH, _serve_document)
    # swagger-ui-py serves its bundled Swagger UI 5 assets itself: the page works offline.
    # config_rel_url: it must not serve a copy of the document; the page loads ours.
    ui = swagger_ui.ApplicationDocument(
        app,
        app_type="aiohttp",
        url_prefix=DOCS_PATH,
        title=TITLE,
        config_rel_url=DOCUMENT_PATH,
    )
    ui.parameters["url"] = json.dumps(DOCUMENT_PATH)
    ui.match_handler()(ui)
