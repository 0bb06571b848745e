"""The accounts (with each one's approval setting) and the product catalog."""

from __future__ import annotations

from aiohttp import web

from service.auth import APPROVES, READS
from service.http.endpoint import endpoint
from service.http.requests import id_after, id_page, page_size, path_id
from service.http.responses import json_response
from service.schemas import admin as a
from service.schemas import orders as o
from service.schemas import subscriptions as s
from service.state import PRINCIPAL, SERVICES

routes = web.RouteTableDef()
ACCOUNT = "/api/accounts/{account_id:[0-9]{1,18}}"


async def account_exists(request: web.Request) -> None:
    await request.app[SERVICES].catalog.require_account(request[PRINCIPAL], path_id(request, "account_id"))


@routes.get("/api/accounts")
@endpoint(
    permission=READS,
    summary="Accounts selectable for orders",
    tag="Catalog",
    returns=o.page_of(a.Account),
    query=("pageSize", "cursor"),
    description="The reseller's own account (`type: Reseller`) and its end customers (`type: Customer`), "
    "each with its `approvalRequired` (null: as the reseller's setting says).",
)
async def accounts(request: web.Request) -> web.Response:
    size = page_size(request.query)
    items = await request.app[SERVICES].catalog.accounts(
        request[PRINCIPAL], after=id_after(request.query, "accounts"), size=size + 1
    )
    return json_response(id_page(items, size, "accounts"))


@routes.get(ACCOUNT)
@endpoint(
    permission=READS,
    exists=account_exists,
    summary="Read an account, with its approval setting",
    tag="Catalog",
    returns=a.Account,
)
async def get_account(request: web.Request) -> web.Response:
    account = await request.app[SERVICES].catalog.account(request[PRINCIPAL], path_id(request, "account_id"))
    return json_response(account)


@routes.put(ACCOUNT + "/settings")
@endpoint(
    permission=APPROVES,
    exists=account_exists,
    body=s.AccountSettings,
    summary="Set whether checkouts for this account wait for approval",
    tag="Approval",
    returns=a.Account,
    description="`approvalRequired: true`: every checkout of an order for this account waits in `Reseller "
    "Pending Approval` until a credential other than the submitter's approves it, whatever the reseller's "
    "setting; `false`: none does; `null`: follow the reseller's `approvalRequired` (the default). Orders "
    "already waiting keep waiting when it changes.",
)
async def put_account_settings(request: web.Request, data: dict) -> web.Response:
    account = await request.app[SERVICES].catalog.set_account_approval(
        request[PRINCIPAL], path_id(request, "account_id"), approval_required=data["approvalRequired"]
    )
    return json_response(account)


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
