"""Who may call what: /admin takes the operator token, /api a reseller token,
and how often: each credential's requests under /api pass its rate limit, and
wrong operator tokens meet a brake per client address. Then a POST sent with
an Idempotency-Key is applied once (service.http.idempotency).

Authentication runs before routing, so an unauthenticated call answers 401
whatever the path, and a reseller cannot probe which ids exist. The rate
limit is taken right after it, before anything else costs time."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from aiohttp import web

from service import db
from service.auth import CredentialCache, authenticate_operator, authenticate_reseller
from service.db import DATABASE_ERRORS
from service.errors import NotFound, RateLimited, ServiceUnavailable, TooManyFailedAttempts
from service.http import idempotency
from service.state import (
    CREDENTIALS,
    DATABASE,
    METRICS,
    OPERATOR_BRAKE,
    PRINCIPAL,
    RATE_LIMIT,
    RATE_LIMITER,
    SECRET_BOX,
    SETTINGS,
    SIGNER,
)
from service.tokens import KEY_REFRESH_SECONDS, TokenSigner

logger = logging.getLogger(__name__)
PUBLIC_API_PATHS = ("/api/openapi.json", "/api/docs")


@web.middleware
async def access_middleware(request: web.Request, handler) -> web.StreamResponse:
    path = request.path
    if path == "/admin" or path.startswith("/admin/"):
        _operator(request)
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


def _operator(request: web.Request) -> None:
    admin_token = request.app[SETTINGS].admin_token
    if admin_token is None:
        raise NotFound()  # the operator API does not exist on this deployment
    # Counted as a failure before the comparison and forgiven when it matches,
    # so parallel guesses meet the brake too; a right token is refused while
    # braked, or the brake would tell which guess was right.
    brake, source = request.app[OPERATOR_BRAKE], request.remote or ""
    wait = brake.attempt(source)
    if wait is not None:
        if (metrics := request.app[METRICS]) is not None:
            metrics.rate_limited.inc()
        raise TooManyFailedAttempts(
            f"Too many failed operator authentications from this address; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    failed = True
    try:
        authenticate_operator(request, admin_token=admin_token)
        failed = False
    finally:
        brake.settle(source, failed=failed)


async def auth_ctx(app: web.Application):
    """The token signer, and its key set (shared by all replicas through the
    database) read again every KEY_REFRESH_SECONDS."""
    database = app[DATABASE]
    app[SIGNER] = signer = TokenSigner(
        ttl_seconds=app[SETTINGS].token_ttl_seconds,
        box=app[SECRET_BOX],
        rows=lambda: database.fetch("signing_keys_current"),
    )
    app[CREDENTIALS] = CredentialCache(db=database)
    if not await _load_signing_keys(app):
        logger.warning("the database is not migrated yet: /api answers 503 until `migrate` has run")
    if app[SETTINGS].admin_token is None:
        logger.info("ADMIN_TOKEN is not set: the operator API /admin/* is disabled (it answers 404)")
    refresher = asyncio.create_task(_keep_keys_current(signer))
    yield
    refresher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await refresher


async def _keep_keys_current(signer: TokenSigner) -> None:
    """A key deleted on any replica stops verifying here within KEY_REFRESH_SECONDS."""
    while True:
        await asyncio.sleep(KEY_REFRESH_SECONDS)
        try:
            await signer.refresh()
        except asyncpg.UndefinedTableError:
            pass  # not migrated yet: ready_signer says so to requests
        except DATABASE_ERRORS as exc:
            logger.warning("could not read the signing keys; trying again", extra={"error": str(exc)[:200]})


async def _load_signing_keys(app: web.Application) -> bool:
    try:
        await app[SIGNER].refresh()
    except asyncpg.UndefinedTableError:
        return False
    return app[SIGNER].ready


async def ready_signer(app: web.Application) -> TokenSigner:
    """The token signer, once the migrations have created its key."""
    signer = app[SIGNER]
    if not signer.ready and not await _load_signing_keys(app):
        raise ServiceUnavailable("The database is not migrated yet; run `python -m service migrate`")
    return signer
