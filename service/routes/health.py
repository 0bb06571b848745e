"""Probes for orchestrators: liveness never touches the database."""

from __future__ import annotations

import asyncio

from aiohttp import web

from service.errors import ServiceUnavailable
from service.responses import json_response
from service.state import LIFECYCLE, POOL, QUERIES

routes = web.RouteTableDef()

READY_TIMEOUT_SECONDS = 1.0


@routes.get("/health/live")
async def live(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/health/ready")
async def ready(request: web.Request) -> web.Response:
    app = request.app
    lifecycle = app[LIFECYCLE]
    if lifecycle.stopping:
        raise ServiceUnavailable("The service is shutting down")
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            async with app[POOL].acquire() as conn:
                applied = await conn.fetchval(app[QUERIES]["migrations_latest"])
    except Exception:
        raise ServiceUnavailable("The database does not answer") from None
    if applied < lifecycle.migrations_latest:
        raise ServiceUnavailable(
            f"Migrations are not current (applied {applied}, expected {lifecycle.migrations_latest})"
        )
    return json_response({"status": "ok", "migration": applied})
