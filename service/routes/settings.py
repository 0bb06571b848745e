"""The reseller's own settings: whether checkouts need approval."""

from __future__ import annotations

from aiohttp import web

from service.auth import READS, WRITES
from service.http.endpoint import endpoint
from service.http.responses import json_response
from service.schemas import orders as o
from service.state import PRINCIPAL, SERVICES

routes = web.RouteTableDef()


@routes.get("/api/settings")
@endpoint(permission=READS, summary="The reseller's settings", tag="Approval", returns=o.ResellerSettings)
async def get_settings(request: web.Request) -> web.Response:
    return json_response(await request.app[SERVICES].tenancy.settings(request[PRINCIPAL].reseller_id))


@routes.put("/api/settings")
@endpoint(
    permission=WRITES,
    body=o.ResellerSettings,
    summary="Change the reseller's settings",
    tag="Approval",
    returns=o.ResellerSettings,
    description="With `approvalRequired`, every checkout from now on waits in `Reseller Pending "
    "Approval` until a credential other than the submitter's approves it (scope `orders:approve`). "
    "Orders already waiting keep waiting when it is turned off.",
)
async def put_settings(request: web.Request, data: dict) -> web.Response:
    settings = await request.app[SERVICES].tenancy.change_settings(
        request[PRINCIPAL].reseller_id, approval_required=data["approvalRequired"]
    )
    return json_response(settings)
