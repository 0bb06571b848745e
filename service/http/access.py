"""Who may call what: /admin takes the operator token, /api a reseller token.

Authentication runs before routing, so an unauthenticated call answers 401
whatever the path, and a reseller cannot probe which ids exist."""

from __future__ import annotations

from aiohttp import web

from service.auth import (
    CredentialCache,
    TokenSigner,
    authenticate_operator,
    authenticate_reseller,
)
from service.state import CREDENTIALS, DATABASE, PRINCIPAL, SETTINGS, SIGNER

PUBLIC_API_PATHS = ("/api/openapi.json", "/api/docs")


@web.middleware
async def access_middleware(request: web.Request, handler) -> web.StreamResponse:
    path = request.path
    if path == "/admin" or path.startswith("/admin/"):
        authenticate_operator(request, admin_token=request.app[SETTINGS].admin_token)
    elif (path == "/api" or path.startswith("/api/")) and not path.startswith(PUBLIC_API_PATHS):
        app = request.app
        request[PRINCIPAL] = await authenticate_reseller(request, signer=app[SIGNER], cache=app[CREDENTIALS])
    return await handler(request)


async def auth_ctx(app: web.Application):
    """Load the signing key (shared by all replicas through the database)."""
    key = await app[DATABASE].fetchval("signing_key")
    app[SIGNER] = TokenSigner(key=key, ttl_seconds=app[SETTINGS].token_ttl_seconds)
    app[CREDENTIALS] = CredentialCache(db=app[DATABASE])
    yield
