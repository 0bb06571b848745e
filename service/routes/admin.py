"""The operator API under /admin (ADMIN_TOKEN; see service.access)."""

from __future__ import annotations

from aiohttp import web

from service import representations as rep
from service.domain import tenancy
from service.errors import NotFound
from service.requests import load, path_id, read_json
from service.responses import json_response
from service.schemas import admin as s
from service.state import POOL, QUERIES

routes = web.RouteTableDef()
RESELLER = "/admin/resellers/{reseller_id:[0-9]{1,18}}"


@routes.post("/admin/resellers")
async def create_reseller(request: web.Request) -> web.Response:
    data = load(s.ResellerCreate(), await read_json(request))
    reseller = await tenancy.create_reseller(request.app[POOL], request.app[QUERIES], **data)
    return json_response(reseller, status=201, headers={"Location": f"/admin/resellers/{reseller['id']}"})


@routes.get(RESELLER)
async def get_reseller(request: web.Request) -> web.Response:
    row = await request.app[POOL].fetchrow(
        request.app[QUERIES]["reseller_get"], path_id(request, "reseller_id")
    )
    if row is None:
        raise NotFound()
    return json_response(rep.reseller(row))


@routes.patch(RESELLER)
async def change_edition(request: web.Request) -> web.Response:
    reseller_id = path_id(request, "reseller_id")
    data = load(s.ResellerPatch(), await read_json(request))
    row = await request.app[POOL].fetchrow(
        request.app[QUERIES]["reseller_set_edition"], reseller_id, data["edition"]
    )
    if row is None:
        raise NotFound()
    return json_response(rep.reseller(row))


@routes.post(RESELLER + "/customers")
async def create_customer(request: web.Request) -> web.Response:
    reseller_id = path_id(request, "reseller_id")
    data = load(s.CustomerCreate(), await read_json(request))
    account = await tenancy.create_customer(request.app[POOL], request.app[QUERIES], reseller_id, **data)
    return json_response(account, status=201)


@routes.post(RESELLER + "/credentials")
async def create_credentials(request: web.Request) -> web.Response:
    creds = await tenancy.issue_credentials(
        request.app[POOL], request.app[QUERIES], path_id(request, "reseller_id")
    )
    return json_response(creds, status=201, headers={"Cache-Control": "no-store"})


@routes.delete(RESELLER + "/credentials/{client_id:[A-Za-z0-9_]{1,64}}")
async def revoke_credentials(request: web.Request) -> web.Response:
    revoked = await request.app[POOL].fetchval(
        request.app[QUERIES]["credential_revoke"],
        path_id(request, "reseller_id"),
        request.match_info["client_id"],
    )
    if revoked is None:
        raise NotFound()
    return web.Response(status=204)


@routes.post("/admin/products")
async def create_product(request: web.Request) -> web.Response:
    data = load(s.ProductCreate(), await read_json(request))
    product = await tenancy.create_product(request.app[POOL], request.app[QUERIES], data)
    return json_response(product, status=201)


@routes.post(RESELLER + "/customfields")
async def create_custom_field(request: web.Request) -> web.Response:
    reseller_id = path_id(request, "reseller_id")
    data = load(s.CustomFieldCreate(), await read_json(request))
    definition = await tenancy.create_custom_field(request.app[POOL], request.app[QUERIES], reseller_id, data)
    return json_response(definition, status=201)
