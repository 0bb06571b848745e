"""Probes for orchestrators: liveness never touches the database."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from service.errors import ServiceUnavailable
from service.http.endpoint import endpoint
from service.http.responses import json_response
from service.schemas import common as c
from service.state import DATABASE, LIFECYCLE

routes = web.RouteTableDef()

READY_TIMEOUT_SECONDS = 1.0


@routes.get("/health/live")
@endpoint(summary="Liveness: the process serves", tag="Health", returns=c.Live, database=False)
async def live(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/health/ready")
@endpoint(
    summary="Readiness: the database answers and migrations are current",
    tag="Health",
    returns=c.Ready,
    description="503 while the database does not answer within 1 s, migrations are pending, or the "
    "service is shutting down.",
)
async def ready(request: web.Request) -> web.Response:
    app = request.app
    lifecycle = app[LIFECYCLE]
    if lifecycle.stopping:
        raise ServiceUnavailable("The service is shutting down")
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            applied = await app[DATABASE].fetchval("migrations_latest")
    except asyncpg.UndefinedTableError:
        applied = 0  # reachable, but no migration has ever run
    except Exception:
        raise ServiceUnavailable("The database does not answer") from None
    if applied < lifecycle.migrations_latest:
        raise ServiceUnavailable(
            f"Migrations are not current (applied {applied}, expected {lifecycle.migrations_latest})"
        )
    return json_response({"status": "ok", "migration": applied})
