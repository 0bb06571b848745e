"""Who may call what: /admin takes the operator token, /api a reseller token,
and how often: each credential's requests under /api pass its rate limit.
Then a POST sent with an Idempotency-Key is applied once (service.http.idempotency).

Authentication runs before routing, so an unauthenticated call answers 401
whatever the path, and a reseller cannot probe which ids exist. The rate
limit is taken right after it, before anything else costs time."""

from __future__ import annotations

import logging

import asyncpg
from aiohttp import web

from service import db
from service.auth import (
    CredentialCache,
    TokenSigner,
    authenticate_operator,
    authenticate_reseller,
)
from service.errors import RateLimited, ServiceUnavailable
from service.http import idempotency
from service.state import (
    CREDENTIALS,
    DATABASE,
    METRICS,
    PRINCIPAL,
    RATE_LIMIT,
    RATE_LIMITER,
    SETTINGS,
    SIGNER,
)

logger = logging.getLogger(__name__)
PUBLIC_API_PATHS = ("/api/openapi.json", "/api/docs")


@web.middleware
async def access_middleware(request: web.Request, handler) -> web.StreamResponse:
    path = request.path
    if path == "/admin" or path.startswith("/admin/"):
        authenticate_operator(request, admin_token=request.app[SETTINGS].admin_token)
    elif (path == "/api" or path.startswith("/api/")) and not path.startswith(PUBLIC_API_PATHS):
        app = request.app
        signer = app[SIGNER]
        if not signer.ready:
            signer = await ready_signer(app)
        request[PRINCIPAL] = principal = await authenticate_reseller(
            request, signer=signer, cache=app[CREDENTIALS]
        )
        # From here on its queries draw on the reseller's share of the pool (service.db).
        db.serve_tenant(principal.reseller_id)
        limiter = app[RATE_LIMITER]
        if limiter is not None:
            # The problem middleware puts the RateLimit headers on the answer, whatever it is.
            request[RATE_LIMIT] = verdict = limiter.take(principal.client_id)
            if not verdict.allowed:
                if (metrics := app[METRICS]) is not None:
                    metrics.rate_limited.inc()
                raise RateLimited(
                    f"Over {int(limiter.capacity)} requests a minute for this credential; "
                    f"retry in {verdict.retry_after} s",
                    headers={"Retry-After": str(verdict.retry_after)},
                )
    # Here rather than as a middleware of its own: a layer every request would pass through.
    if idempotency.HEADER in request.headers and idempotency.keyed(request):
        return await idempotency.apply_once(request, handler)
    return await handler(request)


async def auth_ctx(app: web.Application):
    """Load the signing key (shared by all replicas through the database)."""
    app[SIGNER] = TokenSigner(key=None, ttl_seconds=app[SETTINGS].token_ttl_seconds)
    app[CREDENTIALS] = CredentialCache(db=app[DATABASE])
    if not await _load_signing_key(app):
        logger.warning("the database is not migrated yet: /api answers 503 until `migrate` has run")
    if app[SETTINGS].admin_token is None:
        logger.info("ADMIN_TOKEN is not set: the operator API /admin/* is disabled (it answers 404)")
    yield


async def _load_signing_key(app: web.Application) -> bool:
    try:
        key = await app[DATABASE].fetchval("signing_key")
    except asyncpg.UndefinedTableError:
        return False
    app[SIGNER].load(key)
    return True


async def ready_signer(app: web.Application) -> TokenSigner:
    """The token signer, once the migrations have created its key."""
    signer = app[SIGNER]
    if not signer.ready and not await _load_signing_key(app):
        raise ServiceUnavailable("The database is not migrated yet; run `python -m service migrate`")
    return signer
