"""The operator API under /admin (ADMIN_TOKEN; see service.http.access)."""

from __future__ import annotations

from aiohttp import web

from service import errors as e
from service.http.endpoint import endpoint
from service.http.requests import path_id
from service.http.responses import json_response
from service.schemas import admin as a
from service.state import SERVICES

routes = web.RouteTableDef()
RESELLER = "/admin/resellers/{reseller_id:[0-9]{1,18}}"


@routes.post("/admin/resellers")
@endpoint(
    body=a.ResellerCreate,
    summary="Create a reseller and its own account",
    tag="Operator",
    status=201,
    returns=a.Reseller,
    returns_description="Created",
    headers=("Location",),
)
async def create_reseller(request: web.Request, data: dict) -> web.Response:
    reseller = await request.app[SERVICES].tenancy.create_reseller(**data)
    return json_response(reseller, status=201, headers={"Location": f"/admin/resellers/{reseller['id']}"})


@routes.get(RESELLER)
@endpoint(summary="Read a reseller", tag="Operator", returns=a.Reseller)
async def get_reseller(request: web.Request) -> web.Response:
    return json_response(await request.app[SERVICES].tenancy.reseller(path_id(request, "reseller_id")))


@routes.patch(RESELLER)
@endpoint(
    body=a.ResellerPatch,
    summary="Change a reseller's edition or approval setting",
    tag="Operator",
    returns=a.Reseller,
    description="Every field is optional; only the fields sent change. An edition change takes effect "
    "for tokens already issued within 5 s.",
)
async def change_reseller(request: web.Request, data: dict) -> web.Response:
    reseller = await request.app[SERVICES].tenancy.change_reseller(
        path_id(request, "reseller_id"),
        edition=data.get("edition"),
        approval_required=data.get("approvalRequired"),
    )
    return json_response(reseller)


@routes.post(RESELLER + "/customers")
@endpoint(
    body=a.CustomerCreate,
    summary="Add an end customer account",
    tag="Operator",
    status=201,
    returns=a.Account,
    returns_description="Created",
)
async def create_customer(request: web.Request, data: dict) -> web.Response:
    account = await request.app[SERVICES].tenancy.create_customer(path_id(request, "reseller_id"), **data)
    return json_response(account, status=201)


@routes.post(RESELLER + "/credentials")
@endpoint(
    body=a.CredentialsCreate,
    body_required=False,
    summary="Issue API credentials",
    tag="Operator",
    status=201,
    returns=a.Credentials,
    returns_description="Created",
    description="The secret is shown here once; only its hash is stored. Without a body the credential "
    "has every scope (`orders:read`, `orders:write`, `orders:approve`).",
)
async def create_credentials(request: web.Request, data: dict) -> web.Response:
    tenancy = request.app[SERVICES].tenancy
    reseller_id = path_id(request, "reseller_id")
    if "scopes" in data:
        creds = await tenancy.issue_credentials(reseller_id, scopes=data["scopes"])
    else:
        creds = await tenancy.issue_credentials(reseller_id)
    return json_response(creds, status=201, headers={"Cache-Control": "no-store"})


@routes.delete(RESELLER + "/credentials/{client_id:[A-Za-z0-9_]{1,64}}")
@endpoint(
    summary="Revoke API credentials",
    tag="Operator",
    status=204,
    returns_description="Revoked",
    description="Tokens already issued stop working within 5 s.",
)
async def revoke_credentials(request: web.Request) -> web.Response:
    await request.app[SERVICES].tenancy.revoke_credentials(
        path_id(request, "reseller_id"), request.match_info["client_id"]
    )
    return web.Response(status=204)


@routes.post("/admin/products")
@endpoint(
    body=a.ProductCreate,
    summary="Add a product to the catalog",
    tag="Operator",
    status=201,
    returns=a.Product,
    returns_description="Created",
    errors=(e.AlreadyExists,),
    description="`unitPrices` has exactly one price per billing cycle; a `select` needs `options`.",
)
async def create_product(request: web.Request, data: dict) -> web.Response:
    return json_response(await request.app[SERVICES].tenancy.create_product(data), status=201)


@routes.post(RESELLER + "/customfields")
@endpoint(
    body=a.CustomFieldCreate,
    summary="Define an order custom field of a reseller",
    tag="Operator",
    status=201,
    returns=a.CustomFieldDefinition,
    returns_description="Created",
    errors=(e.AlreadyExists,),
)
async def create_custom_field(request: web.Request, data: dict) -> web.Response:
    definition = await request.app[SERVICES].tenancy.create_custom_field(path_id(request, "reseller_id"), data)
    return json_response(definition, status=201)
