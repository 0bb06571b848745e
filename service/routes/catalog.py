"""GET /api/accounts and GET /api/products."""

from __future__ import annotations

from aiohttp import web

from service.auth import READS
from service.http.endpoint import endpoint
from service.http.requests import id_after, id_page, page_size
from service.http.responses import json_response
from service.schemas import admin as a
from service.schemas import orders as o
from service.state import PRINCIPAL, SERVICES

routes = web.RouteTableDef()


@routes.get("/api/accounts")
@endpoint(
    permission=READS,
    summary="Accounts selectable for orders",
    tag="Catalog",
    returns=o.page_of(a.Account),
    query=("pageSize", "cursor"),
    description="The reseller's own account (`type: Reseller`) and its end customers (`type: Customer`).",
)
async def accounts(request: web.Request) -> web.Response:
    size = page_size(request.query)
    items = await request.app[SERVICES].catalog.accounts(
        request[PRINCIPAL], after=id_after(request.query, "accounts"), size=size + 1
    )
    return json_response(id_page(items, size, "accounts"))


@routes.get("/api/products")
@endpoint(
    permission=READS,
    summary="The product catalog",
    tag="Catalog",
    returns=o.page_of(a.Product),
    query=("pageSize", "cursor"),
)
async def products(request: web.Request) -> web.Response:
    size = page_size(request.query)
    items = await request.app[SERVICES].catalog.products(after=id_after(request.query, "products"), size=size + 1)
    return json_response(id_page(items, size, "products"))
