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
from service.lifecycle import EVENT_TYPES
from service.http.endpoint import Doc
from service.http.examples import EXAMPLES, PROBLEM_EXAMPLE
from service.http.protocol import NotHttp
from service.schemas.admin import Price
from service.schemas.common import MAX_ID, Problem, Text

TITLE = "Reseller Ordering API"
API_VERSION = "3.0"
DOCUMENT_PATH = "/api/openapi.json"
DOCS_PATH = "/api/docs"
METRICS_PATH = "/metrics"
OPENAPI_DOCUMENT = web.AppKey("openapi_document", bytes)

PROBLEM_JSON = "application/problem+json"
NO_NUL = "^[^\\x00]*$"
MONEY = "^[0-9]{1,12}(\\.[0-9]{1,2})?$"
_PARAM = re.compile(r"\{(\w+)\}")

DESCRIPTION = """\
Build, execute and follow orders for a reseller's own account and its end customers' accounts.

* Resellers call `/api/*` with `Authorization: Bearer <access_token>` from `POST /oauth/token`
  (HTTP Basic `clientId:clientSecret`, form `grant_type=client_credentials`).
* Operators call `/admin/*` with `Authorization: Bearer <ADMIN_TOKEN>`.
* Every error is `application/problem+json` with a stable `code`; each response below lists the
  codes it can carry. Checks run in this order: authentication (401), tenant scope of the ids in
  the path (404), edition (403), body (422), state (409).
* Lists take `pageSize` (1..200, default 50) and the opaque `cursor` of the previous page.
* Ids are positive 64-bit integers; an id in a path that is not one, or has more than 18 digits,
  answers 404.
* `X-Api-Version` may be absent or `3.0`. Every response carries `X-Request-Id`.
* A request that is not valid HTTP (a request line or header over 8 KiB, a malformed header)
  answers 400 `bad_request`; one whose body stops arriving for `BODY_TIMEOUT_SECONDS` answers 408.
* Each credential may send `RATE_LIMIT_PER_MINUTE` requests a minute under `/api` (1200 unless the
  deployment says otherwise), in bursts of up to that many; over it answers 429 `rate_limited` with
  `Retry-After`. Every authenticated `/api` answer carries `RateLimit-Policy` and `RateLimit`.
* 503 `database_unavailable` comes with `Retry-After`. After a change was sent, its `detail` says
  when the change may have been applied; `Idempotency-Key` makes the retry safe.
"""

_id = {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID, "example": 1}
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "orderId": {"schema": _id, "description": "an order of yours or of one of your customers"},
    "itemId": {"schema": _id, "description": "an item of that order"},
    "resellerId": {"schema": _id, "description": "a reseller"},
    "clientId": {
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_]{1,64}$", "example": "ro_0123456789abcdef"},
        "description": "the clientId of API credentials",
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
    "accountId": {"schema": _id, "description": "only orders of this account"},
    "status": {
        "schema": {"type": "string", "maxLength": 64, "pattern": NO_NUL, "example": "Completed"},
        "description": "only orders with exactly this status",
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
        "schema": {"type": "string", "enum": list(EVENT_TYPES)},
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
        "schema": {"type": "string", "enum": [API_VERSION]},
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
    "If-None-Match": {
        "schema": {"type": "string", "maxLength": 1024},
        "description": "an ETag from an earlier answer: 304 without a body while it is still current",
    },
    "If-Match": {
        "schema": {"type": "string", "maxLength": 1024},
        "description": "the ETag this change is meant for: 412 `precondition_failed` and no change "
        "unless it is still current",
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
    "Retry-After": {
        "schema": {"type": "integer", "minimum": 0},
        "description": "seconds to wait before sending the request again",
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
        "description": "an access token from `POST /oauth/token`, sent as `Authorization: Bearer`",
        "flows": {
            "clientCredentials": {
                "tokenUrl": "/oauth/token",
                "scopes": {
                    "orders:read": "every GET under /api",
                    "orders:write": "create and change drafts, check out, manage webhooks and settings",
                    "orders:approve": "approve and cancel orders waiting for approval",
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
    429: "Too many requests; wait `Retry-After` seconds",
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
    if field.allow_none and "enum" in ret and None not in ret["enum"]:
        extras["enum"] = [*ret["enum"], None]
    return extras


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
        # the docs UI describe the API, not themselves; /metrics is for the
        # operator's Prometheus, in its own format (docs/operations.md).
        if route.method == "HEAD" or canonical.startswith((DOCUMENT_PATH, DOCS_PATH, METRICS_PATH)):
            continue
        yield route.method.lower(), _openapi_path(canonical), route.handler


def _problem(spec: APISpec, status: int, kinds: list[type[e.ServiceError]]) -> str:
    """A shared response component for these error kinds; returns its name."""
    codes = list(dict.fromkeys(kind.code for kind in kinds))
    name = "Or".join("".join(part.title() for part in code.split("_")) for code in sorted(codes))
    if name in spec.components.responses:
        return name
    first = kinds[0]
    example = dict(
        PROBLEM_EXAMPLE, type=f"/problems/{first.code}", title=first().title, status=status, code=first.code
    )
    if first.code == e.ValidationFailed.code:
        example["errors"] = [
            {"field": "quantity", "code": "invalid", "message": "Must be greater than or equal to 1."}
        ]
    headers = {"X-Request-Id": "X-Request-Id"}
    if status == 401:
        headers["WWW-Authenticate"] = "WWW-Authenticate"
    if status in (429, 503):
        headers["Retry-After"] = "Retry-After"
    if first.code == e.RateLimited.code:
        headers.update({name: name for name in RATE_LIMIT_HEADERS})
    spec.components.response(
        name,
        {
            "description": f"{STATUS_DESCRIPTIONS[status]}. `code`: "
            + ", ".join(f"`{c}`" for c in sorted(codes)),
            "headers": headers,
            "content": {
                PROBLEM_JSON: {
                    "schema": {
                        "allOf": [
                            Problem,
                            {
                                "type": "object",
                                "properties": {"status": {"const": status}, "code": {"enum": sorted(codes)}},
                            },
                        ]
                    },
                    "example": example,
                }
            },
        },
    )
    return name


def _implied_errors(method: str, path: str, doc: Doc) -> list[type[e.ServiceError]]:
    """Errors that follow from where a route lives, what it needs and what it reads."""
    implied: list[type[e.ServiceError]] = [e.UnsupportedApiVersion, NotHttp]
    if doc.database:
        implied += [e.ServiceUnavailable, e.DatabaseUnavailable]
    if path.startswith("/api/"):
        implied += [e.Unauthorized, e.RateLimited]
    if doc.permission is not None:
        if doc.permission.standard_only:
            implied.append(e.EditionNotPermitted)
        implied.append(e.InsufficientScope)
    if doc.if_match:
        implied.append(e.PreconditionFailed)
    if path.startswith("/admin/"):
        implied += [e.Unauthorized, e.NotFound]  # NotFound: no ADMIN_TOKEN, no operator API
    if "{" in path:
        implied.append(e.NotFound)
    if doc.body is not None:
        implied.append(e.RequestTimeout)
    if doc.body is not None and not doc.form:
        implied += [e.MalformedJson, e.PayloadTooLarge, e.UnsupportedMediaType, e.ValidationFailed]
    if {"pageSize", "cursor", "stage", "type", "orderIdFilter", "accountId"} & set(doc.query):
        implied.append(e.ValidationFailed)
    return implied


def _operation(spec: APISpec, method: str, path: str, handler: Any, doc: Doc) -> dict:
    head, *rest = handler.__name__.split("_")
    parameters: list[Any] = [name for name in PATH_PARAMETERS if "{" + name + "}" in path]
    parameters += [*doc.query, *HEADER_PARAMETERS]
    if doc.etag:
        parameters.append("If-None-Match")
    if doc.if_match:
        parameters.append("If-Match")
    ok: dict[str, Any] = {"description": doc.returns_description, "headers": {"X-Request-Id": "X-Request-Id"}}
    for header in doc.headers:
        ok["headers"][header] = header
    if doc.etag:
        ok["headers"]["ETag"] = "ETag"
    if path.startswith("/api/"):
        ok["headers"].update({name: name for name in RATE_LIMIT_HEADERS})
    if doc.returns is not None:
        ok["content"] = {"application/json": {"schema": doc.returns, "example": EXAMPLES[doc.example_key]}}
    responses = {str(doc.status): ok}
    if doc.etag:
        responses["304"] = {
            "description": "Not modified: `If-None-Match` names the current tag",
            "headers": {"X-Request-Id": "X-Request-Id", "ETag": "ETag"},
        }
    by_status: dict[int, list[type[e.ServiceError]]] = {}
    for kind in [*doc.errors, *_implied_errors(method, path, doc)]:
        by_status.setdefault(kind.status, []).append(kind)
    for status in sorted(by_status):
        responses[str(status)] = _problem(spec, status, by_status[status])
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
    if description:
        operation["description"] = description
    if doc.body is not None:
        media = "application/x-www-form-urlencoded" if doc.form else "application/json"
        operation["requestBody"] = {
            "required": doc.body_required,
            "content": {media: {"schema": doc.body, "example": EXAMPLES[doc.body_example_key]}},
        }
    security = {"/api/": "resellerToken", "/admin/": "operatorToken", "/oauth/": "clientCredentials"}
    for prefix, scheme in security.items():
        if path.startswith(prefix):
            operation["security"] = [{scheme: [doc.permission.scope] if doc.permission else []}]
    if path.startswith("/health/"):
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
    return spec.to_dict()


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
