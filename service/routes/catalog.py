"""GET /api/accounts and GET /api/products."""

from __future__ import annotations

from aiohttp import web

from service import representations as rep
from service.requests import decode_cursor, page, page_size, positive_id
from service.responses import json_response
from service.state import POOL, PRINCIPAL, QUERIES

routes = web.RouteTableDef()


@routes.get("/api/accounts")
async def accounts(request: web.Request) -> web.Response:
    size = page_size(request.query)
    after = decode_cursor(request.query, "accounts", 1)
    rows = await request.app[POOL].fetch(
        request.app[QUERIES]["accounts_page"],
        request[PRINCIPAL].reseller_id,
        positive_id(after[0], "cursor") if after else None,
        size + 1,
    )
    items = [rep.account(row) for row in rows[:size]]
    return json_response(page(items, [items[-1]["id"]] if len(rows) > size else None, "accounts"))


@routes.get("/api/products")
async def products(request: web.Request) -> web.Response:
    size = page_size(request.query)
    after = decode_cursor(request.query, "products", 1)
    rows = await request.app[POOL].fetch(
        request.app[QUERIES]["products_page"], positive_id(after[0], "cursor") if after else None, size + 1
    )
    items = [rep.product(row) for row in rows[:size]]
    return json_response(page(items, [items[-1]["id"]] if len(rows) > size else None, "products"))
