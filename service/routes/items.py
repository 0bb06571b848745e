"""Items of an order, and each item's characteristics."""

from __future__ import annotations

from aiohttp import web

from service import representations as rep
from service.domain import ordering, values
from service.errors import NotFound
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
from service.schemas.orders import ItemCreate, ValueEntry
from service.state import POOL, PRINCIPAL, QUERIES

routes = web.RouteTableDef()
ITEMS = "/api/orders/{order_id:[0-9]{1,18}}/items"
ITEM = ITEMS + "/{item_id:[0-9]{1,18}}"


async def _visible_item(request: web.Request):
    """The item in the path, if its order is the caller's and visible; else 404."""
    row = await request.app[POOL].fetchrow(
        request.app[QUERIES]["item_get"],
        path_id(request, "order_id"),
        request[PRINCIPAL].reseller_id,
        path_id(request, "item_id"),
    )
    if row is None:
        raise NotFound()
    return row


@routes.post(ITEMS)
async def add_item(request: web.Request) -> web.Response:
    who, order_id = request[PRINCIPAL], path_id(request, "order_id")
    pool, q = request.app[POOL], request.app[QUERIES]
    await ordering.find_order(pool, q, order_id, who)
    who.require_write()
    data = load(ItemCreate(), await read_json(request))
    item = await ordering.add_item(pool, q, who, order_id, data)
    return json_response(item, status=201, headers={"Location": f"/api/orders/{order_id}/items/{item['id']}"})


@routes.get(ITEMS)
async def list_items(request: web.Request) -> web.Response:
    who, order_id = request[PRINCIPAL], path_id(request, "order_id")
    pool, q = request.app[POOL], request.app[QUERIES]
    size = page_size(request.query)
    after = decode_cursor(request.query, "items", 1)
    await ordering.find_order(pool, q, order_id, who)
    rows = await pool.fetch(
        q["items_page"],
        order_id,
        who.reseller_id,
        positive_id(after[0], "cursor") if after else None,
        size + 1,
    )
    items = [rep.item(row) for row in rows[:size]]
    return json_response(page(items, [items[-1]["id"]] if len(rows) > size else None, "items"))


@routes.get(ITEM)
async def get_item(request: web.Request) -> web.Response:
    return json_response(rep.item(await _visible_item(request)))


@routes.delete(ITEM)
async def delete_item(request: web.Request) -> web.Response:
    row = await _visible_item(request)
    who, order_id, item_id = request[PRINCIPAL], row["order_id"], row["id"]
    pool, q = request.app[POOL], request.app[QUERIES]
    who.require_write()
    await ordering.delete_item(pool, q, who, order_id, item_id)
    return web.Response(status=204)


@routes.get(ITEM + "/characteristics")
async def get_characteristics(request: web.Request) -> web.Response:
    listing = await values.characteristics(
        request.app[POOL],
        request.app[QUERIES],
        request[PRINCIPAL],
        path_id(request, "order_id"),
        path_id(request, "item_id"),
    )
    return json_response(listing)


@routes.put(ITEM + "/characteristics")
async def put_characteristics(request: web.Request) -> web.Response:
    row = await _visible_item(request)
    who, order_id, item_id = request[PRINCIPAL], row["order_id"], row["id"]
    pool, q = request.app[POOL], request.app[QUERIES]
    who.require_write()
    entries = load(ValueEntry(), await read_json(request), many=True)
    listing = await values.set_characteristics(pool, q, who, order_id, item_id, entries)
    return json_response(listing)
