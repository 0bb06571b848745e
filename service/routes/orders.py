"""Orders: create, list by stage, get, check out, execution status, custom fields.

Checks run in the contract's order: authentication (middleware), the tenant
scope of path ids (404), edition (403), body (422), state (409)."""

from __future__ import annotations

import datetime

from aiohttp import web

from service import representations as rep
from service.domain import ordering, values
from service.errors import NotFound, OrderNotConfirmed, field_error
from service.requests import (
    decode_cursor,
    load,
    page,
    page_size,
    path_id,
    positive_id,
    read_json,
)
from service.responses import json_response
from service.schemas.orders import OrderCreate, ValueEntry
from service.state import POOL, PRINCIPAL, QUERIES, SETTINGS

routes = web.RouteTableDef()
ORDER = "/api/orders/{order_id:[0-9]{1,18}}"
STAGES = ("confirmed", "draft", "all")


@routes.post("/api/orders")
async def create_order(request: web.Request) -> web.Response:
    who = request[PRINCIPAL]
    who.require_write()
    data = load(OrderCreate(), await read_json(request))
    order = await ordering.create_order(request.app[POOL], request.app[QUERIES], who, data)
    return json_response(order, status=201, headers={"Location": f"/api/orders/{order['id']}"})


def _date(query, name: str) -> datetime.date | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        if len(raw) != 10:  # fromisoformat also takes YYYYMMDD; the contract says YYYY-MM-DD
            raise ValueError(raw)
        return datetime.date.fromisoformat(raw)
    except ValueError:
        raise field_error(name, "must be a date YYYY-MM-DD") from None


def _text(query, name: str) -> str | None:
    raw = query.get(name)
    if raw is not None and (len(raw) > 64 or "\x00" in raw):
        raise field_error(name, "must be at most 64 characters")
    return raw


@routes.get("/api/orders")
async def list_orders(request: web.Request) -> web.Response:
    query = request.query
    stage = query.get("stage", "Confirmed").lower()
    if stage not in STAGES:
        raise field_error("stage", "must be Confirmed, Draft or All", code="invalid_stage")
    account_id = positive_id(query["accountId"], "accountId") if "accountId" in query else None
    size = page_size(query)
    after = decode_cursor(query, "orders", 2)
    if after is not None:
        after = [_cursor_date(after[0]), positive_id(after[1], "cursor")]
    rows = await request.app[POOL].fetch(
        request.app[QUERIES]["orders_page"],
        request[PRINCIPAL].reseller_id,
        stage,
        account_id,
        _text(query, "status"),
        _date(query, "fromDate"),
        _date(query, "toDate"),
        after[0] if after else None,
        after[1] if after else None,
        size + 1,
    )
    items = [rep.order(row) for row in rows[:size]]
    next_key = [items[-1]["orderDate"], items[-1]["id"]] if len(rows) > size else None
    return json_response(page(items, next_key, "orders"))


def _cursor_date(value) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise field_error("cursor", "is not a cursor this list gave out", code="invalid_cursor") from None


@routes.get(ORDER)
async def get_order(request: web.Request) -> web.Response:
    row = await ordering.find_order(
        request.app[POOL], request.app[QUERIES], path_id(request, "order_id"), request[PRINCIPAL]
    )
    return json_response(rep.order(row))


@routes.post(ORDER + "/checkout")
async def checkout(request: web.Request) -> web.Response:
    who, order_id = request[PRINCIPAL], path_id(request, "order_id")
    order = await ordering.checkout(
        request.app[POOL],
        request.app[QUERIES],
        who,
        order_id,
        item_deadline_seconds=request.app[SETTINGS].item_deadline_seconds,
    )
    return json_response(order, status=202, headers={"Location": f"/api/orders/{order_id}/execute/status"})


@routes.get(ORDER + "/execute/status")
async def execution_status(request: web.Request) -> web.Response:
    row = await request.app[POOL].fetchrow(
        request.app[QUERIES]["order_execution"], path_id(request, "order_id"), request[PRINCIPAL].reseller_id
    )
    if row is None:
        raise NotFound()
    if row["status"] in rep.CONFIRMED_EXCLUDED:
        raise OrderNotConfirmed(f"Order {row['id']} is {row['status']}; it has no execution yet")
    return json_response(rep.execution_status(row))


@routes.get(ORDER + "/customfields")
async def get_custom_fields(request: web.Request) -> web.Response:
    listing = await values.custom_fields(
        request.app[POOL], request.app[QUERIES], request[PRINCIPAL], path_id(request, "order_id")
    )
    return json_response(listing)


@routes.put(ORDER + "/customfields")
async def put_custom_fields(request: web.Request) -> web.Response:
    who, order_id = request[PRINCIPAL], path_id(request, "order_id")
    await ordering.find_order(request.app[POOL], request.app[QUERIES], order_id, who)
    who.require_write()
    entries = load(ValueEntry(), await read_json(request), many=True)
    listing = await values.set_custom_fields(request.app[POOL], request.app[QUERIES], who, order_id, entries)
    return json_response(listing)
