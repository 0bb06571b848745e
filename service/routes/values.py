"""An order's custom fields and an item's characteristics."""

from __future__ import annotations

from aiohttp import web

from service import errors as e
from service.auth import READS, WRITES
from service.http.endpoint import endpoint, if_match
from service.http.requests import path_id
from service.http.responses import json_response
from service.routes.items import ITEM, item_exists
from service.routes.orders import DRAFT_ONLY, ORDER, order_exists
from service.schemas import orders as o
from service.state import PRINCIPAL, SERVICES

routes = web.RouteTableDef()
VALUES = {"type": "array", "items": o.Value}
VALUE_ENTRIES = {"type": "array", "items": o.ValueEntry}


@routes.get(ORDER + "/customfields")
@endpoint(
    permission=READS,
    exists=order_exists,
    etag=True,
    summary="The order's custom fields published to Storefront",
    tag="Custom fields",
    returns=VALUES,
)
async def get_custom_fields(request: web.Request) -> web.Response:
    listing = await request.app[SERVICES].values.custom_fields(request[PRINCIPAL], path_id(request, "order_id"))
    return json_response(listing)


@routes.put(ORDER + "/customfields")
@endpoint(
    permission=WRITES,
    exists=order_exists,
    body=VALUE_ENTRIES,
    field_codes=("unknown_name", "duplicate_name", "invalid_value"),
    if_match="the custom field list's",
    summary="Set custom field values",
    tag="Custom fields",
    returns=VALUES,
    returns_description="The full list",
    errors=(e.OrderNotDraft,),
    description=f"{DRAFT_ONLY} `null` clears a value. An unknown or unpublished name, or a value of the "
    "wrong type or option, answers 422 and nothing is changed.",
)
async def put_custom_fields(request: web.Request, entries: list) -> web.Response:
    listing = await request.app[SERVICES].values.set_custom_fields(
        request[PRINCIPAL], path_id(request, "order_id"), entries, if_match=if_match(request)
    )
    return json_response(listing)


@routes.get(ITEM + "/characteristics")
@endpoint(
    permission=READS,
    exists=item_exists,
    etag=True,
    summary="The item's characteristics",
    tag="Items",
    returns=VALUES,
)
async def get_characteristics(request: web.Request) -> web.Response:
    listing = await request.app[SERVICES].values.characteristics(
        request[PRINCIPAL], path_id(request, "order_id"), path_id(request, "item_id")
    )
    return json_response(listing)


@routes.put(ITEM + "/characteristics")
@endpoint(
    permission=WRITES,
    exists=item_exists,
    body=VALUE_ENTRIES,
    field_codes=("unknown_name", "duplicate_name", "invalid_value"),
    if_match="the characteristic list's",
    summary="Set characteristic values",
    tag="Items",
    returns=VALUES,
    returns_description="The full list",
    errors=(e.OrderNotDraft,),
    description=f"{DRAFT_ONLY} Validated like custom fields.",
)
async def put_characteristics(request: web.Request, entries: list) -> web.Response:
    listing = await request.app[SERVICES].values.set_characteristics(
        request[PRINCIPAL],
        path_id(request, "order_id"),
        path_id(request, "item_id"),
        entries,
        if_match=if_match(request),
    )
    return json_response(listing)
