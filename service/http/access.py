"""Who may call what: /admin takes the operator token, /api a reseller token,
and how often: each credential's requests under /api pass its rate limit.

Authentication runs before routing, so an unauthenticated call answers 401
whatever the path, and a reseller cannot probe which ids exist. The rate
limit is taken right after it, before anything else costs time."""

from __future__ import annotations

from aiohttp import web

from service.auth import (
    CredentialCache,
    TokenSigner,
    authenticate_operator,
    authenticate_reseller,
)
from service.errors import RateLimited
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

PUBLIC_API_PATHS = ("/api/openapi.json", "/api/docs")


@web.middleware
async def access_middleware(request: web.Request, handler) -> web.StreamResponse:
    path = request.path
    if path == "/admin" or path.startswith("/admin/"):
        authenticate_operator(request, admin_token=request.app[SETTINGS].admin_token)
    elif (path == "/api" or path.startswith("/api/")) and not path.startswith(PUBLIC_API_PATHS):
        app = request.app
        request[PRINCIPAL] = principal = await authenticate_reseller(
            request, signer=app[SIGNER], cache=app[CREDENTIALS]
        )
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
    return await handler(request)


async def auth_ctx(app: web.Application):
    """Load the signing key (shared by all replicas through the database)."""
    key = await app[DATABASE].fetchval("signing_key")
    app[SIGNER] = TokenSigner(key=key, ttl_seconds=app[SETTINGS].token_ttl_seconds)
    app[CREDENTIALS] = CredentialCache(db=app[DATABASE])
    yield
