"""The operator API under /admin (ADMIN_TOKEN; see service.access)."""

from __future__ import annotations


from aiohttp import web

from service import representations as rep
from service.auth import hash_secret, new_credentials
from service.errors import AlreadyExists, NotFound
from service.requests import load, path_id, read_json
from service.schemas import admin as s
from service.state import POOL, QUERIES

routes = web.RouteTableDef()
RESELLER = "/admin/resellers/{reseller_id:[0-9]{1,18}}"


@routes.post("/admin/resellers")
async def create_reseller(request: web.Request) -> web.Response:
    data = load(s.ResellerCreate(), await read_json(request))
    row = await request.app[POOL].fetchrow(request.app[QUERIES]["reseller_create"], data["name"], data["edition"])
    return web.json_response(rep.reseller(row), status=201, headers={"Location": f"/admin/resellers/{row['id']}"})


@routes.get(RESELLER)
async def get_reseller(request: web.Request) -> web.Response:
    row = await request.app[POOL].fetchrow(request.app[QUERIES]["reseller_get"], path_id(request, "reseller_id"))
    if row is None:
        raise NotFound()
    return web.json_response(rep.reseller(row))


@routes.patch(RESELLER)
async def change_edition(request: web.Request) -> web.Response:
    reseller_id = path_id(request, "reseller_id")
    data = load(s.ResellerPatch(), await read_json(request))
    row = await request.app[POOL].fetchrow(request.app[QUERIES]["reseller_set_edition"], reseller_id, data["edition"])
    if row is None:
        raise NotFound()
    return web.json_response(rep.reseller(row))


@routes.post(RESELLER + "/customers")
async def create_customer(request: web.Request) -> web.Response:
    reseller_id = path_id(request, "reseller_id")
    data = load(s.CustomerCreate(), await read_json(request))
    row = await request.app[POOL].fetchrow(request.app[QUERIES]["customer_create"], reseller_id, data["name"])
    if row is None:
        raise NotFound()
    return web.json_response(rep.account(row), status=201)


@routes.post(RESELLER + "/credentials")
async def create_credentials(request: web.Request) -> web.Response:
    client_id, secret = new_credentials()
    created = await request.app[POOL].fetchval(
        request.app[QUERIES]["credential_create"], path_id(request, "reseller_id"), client_id, hash_secret(secret)
    )
    if created is None:
        raise NotFound()
    # The secret is shown here once; only its hash is stored.
    return web.json_response(
        {"clientId": client_id, "clientSecret": secret}, status=201, headers={"Cache-Control": "no-store"}
    )


@routes.delete(RESELLER + "/credentials/{client_id:[A-Za-z0-9_]{1,64}}")
async def revoke_credentials(request: web.Request) -> web.Response:
    revoked = await request.app[POOL].fetchval(
        request.app[QUERIES]["credential_revoke"], path_id(request, "reseller_id"), request.match_info["client_id"]
    )
    if revoked is None:
        raise NotFound()
    return web.Response(status=204)


@routes.post("/admin/products")
async def create_product(request: web.Request) -> web.Response:
    data = load(s.ProductCreate(), await read_json(request))
    row = await request.app[POOL].fetchrow(
        request.app[QUERIES]["product_create"],
        data["sku"],
        data["name"],
        data["billingCycles"],
        {cycle: f"{price:.2f}" for cycle, price in data["unitPrices"].items()},
        data["currency"],
        data["characteristics"],
        dict(data["fulfillment"]),
    )
    if row is None:
        raise AlreadyExists(f"A product with sku {data['sku']!r} exists already")
    return web.json_response(rep.product(row), status=201, headers={"Location": f"/api/products/{row['id']}"})


@routes.post(RESELLER + "/customfields")
async def create_custom_field(request: web.Request) -> web.Response:
    reseller_id = path_id(request, "reseller_id")
    data = load(s.CustomFieldCreate(), await read_json(request))
    q, pool = request.app[QUERIES], request.app[POOL]
    if await pool.fetchrow(q["reseller_get"], reseller_id) is None:
        raise NotFound()
    row = await pool.fetchrow(
        q["customfield_create"], reseller_id, data["name"], data["label"], data["type"],
        data["required"], data["options"], data["publishedToStorefront"],
    )
    if row is None:
        raise AlreadyExists(f"Custom field {data['name']!r} exists already for this reseller")
    return web.json_response(rep.custom_field_definition(row), status=201)


