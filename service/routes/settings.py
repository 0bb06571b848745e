"""The reseller's own settings: whether checkouts need approval."""

from __future__ import annotations

from aiohttp import web

from service.auth import APPROVES, READS
from service.http.endpoint import endpoint
from service.http.responses import json_response
from service.schemas import orders as o
from service.state import PRINCIPAL, SERVICES

routes = web.RouteTableDef()


@routes.get("/api/settings")
@endpoint(
    permission=READS,
    summary="The reseller's settings",
    tag="Approval",
    returns=o.ResellerSettings,
    description="`updatedAt` and `updatedBy` say who changed them last: the clientId of the credential "
    "that sent `PUT /api/settings`, or `operator` when the platform's operator set them.",
)
async def get_settings(request: web.Request) -> web.Response:
    return json_response(await request.app[SERVICES].tenancy.settings(request[PRINCIPAL].reseller_id))


@routes.put("/api/settings")
@endpoint(
    permission=APPROVES,
    body=o.ResellerSettingsChange,
    summary="Change the reseller's settings",
    tag="Approval",
    returns=o.ResellerSettings,
    description="With `approvalRequired`, every checkout from now on waits in `Reseller Pending "
    "Approval` until a credential other than the submitter's approves it (scope `orders:approve`). "
    "Orders already waiting keep waiting when it is turned off. Needs the scope `orders:approve` (a "
    "credential that may only write cannot switch four eyes off); the change is recorded with the "
    "credential's clientId in `updatedBy`. `updatedAt` and `updatedBy` sent back are ignored.",
)
async def put_settings(request: web.Request, data: dict) -> web.Response:
    settings = await request.app[SERVICES].tenancy.change_settings(
        request[PRINCIPAL].reseller_id,
        approval_required=data["approvalRequired"],
        changed_by=request[PRINCIPAL].client_id,
    )
    return json_response(settings)
