"""GET /metrics: Prometheus text format, for the operator's scraper.

It is not part of the reseller API and not in the OpenAPI document. Open
unless METRICS_TOKEN is set; then it needs `Authorization: Bearer
<METRICS_TOKEN>`. 404 while METRICS_ENABLED=false."""

from __future__ import annotations

import hmac

from aiohttp import web

from service.auth import bearer
from service.errors import NotFound, Unauthorized
from service.metrics import CONTENT_TYPE
from service.state import DATABASE, METRICS, SETTINGS

PATH = "/metrics"
routes = web.RouteTableDef()


@routes.get(PATH)
async def metrics(request: web.Request) -> web.Response:
    app = request.app
    collected = app[METRICS]
    if collected is None:
        raise NotFound("Metrics are turned off (METRICS_ENABLED=false)")
    wanted = app[SETTINGS].metrics_token
    if wanted is not None:
        token = bearer(request)
        if token is None or not hmac.compare_digest(token.encode(), wanted.encode()):
            raise Unauthorized("The metrics token is required")
    collected.set_pool(app[DATABASE])
    await collected.refresh(app[DATABASE])
    # aiohttp refuses a charset in content_type=; the exposition format names one.
    return web.Response(body=collected.exposition(), headers={"Content-Type": CONTENT_TYPE})
