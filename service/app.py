"""create_app(settings): the application with every resource in a cleanup context."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from service import db, migrate
from service.domain import services
from service.execution.scheduler import http_client_ctx, scheduler_ctx, webhook_client_ctx
from service.http import openapi
from service.http.access import access_middleware, auth_ctx
from service.http.middleware import problem_middleware
from service.http.ratelimit import RateLimiter, TokenBrake
from service.limits import MAX_BODY_BYTES
from service.live.context import end_streams, live_ctx
from service.logs import ACCESS_LOG
from service.metrics import Metrics, keep_pool_current
from service.routes import (
    admin,
    catalog,
    console,
    events,
    health,
    items,
    keys,
    metrics,
    oauth,
    orders,
    stream,
    subscriptions,
    values,
    webhooks,
)
from service.routes import settings as reseller_settings
from service.secretbox import SecretBox
from service.settings import Settings, SettingsError
from service.state import (
    DATABASE,
    DSN,
    LIFECYCLE,
    METRICS,
    OPERATOR_BRAKE,
    POOL,
    QUERIES,
    RATE_LIMITER,
    SECRET_BOX,
    SERVICES,
    SETTINGS,
    TOKEN_BRAKE,
    WEBHOOK_RESOLVER,
    Lifecycle,
)
from service.webhooks import addresses


async def _pool_ctx(app: web.Application):
    settings = app[SETTINGS]
    pool = await db.create_pool(
        app[DSN],
        max_size=settings.db_pool_max_size,
        lock_timeout=settings.lock_timeout_seconds,
        idle_in_transaction_timeout=settings.idle_in_transaction_timeout_seconds,
        connect_timeout=settings.db_acquire_timeout_seconds,
    )
    app[POOL] = pool
    app[DATABASE] = database = db.Database(
        pool=pool, queries=app[QUERIES], acquire_timeout=settings.db_acquire_timeout_seconds, keep=True
    )
    resolver = None
    if WEBHOOK_RESOLVER not in app:
        app[WEBHOOK_RESOLVER] = resolver = addresses.new_resolver()
    app[SERVICES] = services.build(
        database, settings, resolver=app[WEBHOOK_RESOLVER], box=app[SECRET_BOX]
    )
    yield
    await database.close()
    await pool.close()
    if resolver is not None:
        await resolver.close()


async def _metrics_ctx(app: web.Application):
    # Here, not in create_app: in multiprocess mode creating metrics opens files.
    if app[SETTINGS].metrics_enabled:
        app[METRICS] = Metrics()
    refresher = None
    if app[METRICS] is not None and app[METRICS].directory is not None:
        refresher = asyncio.create_task(keep_pool_current(app[METRICS], app[DATABASE]))
    yield
    if refresher is not None:
        refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refresher


async def _flush_access_log(_app: web.Application) -> None:
    ACCESS_LOG.flush()  # the last batch of request lines, before the process ends


def create_app(settings: Settings, *, dsn: str) -> web.Application:
    """Build the application; no I/O happens until it starts."""
    if settings.secret_key is None:
        # The command line fills it in (from DATA_DIR for the embedded default).
        raise SettingsError("SECRET_KEY is not set")
    sql = db.sql_dir(settings.sql_dir)
    # Idempotency runs inside access: keys are scoped by the reseller it authenticates.
    middlewares = [problem_middleware, access_middleware]
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app[DSN] = dsn
    app[QUERIES] = db.load_queries(sql / "queries")
    app[LIFECYCLE] = Lifecycle(migrations_latest=migrate.latest_version(migrate.discover(sql / "migrations")))
    app[METRICS] = None
    limit = settings.rate_limit_per_minute
    app[RATE_LIMITER] = RateLimiter(per_minute=limit) if limit else None
    app[TOKEN_BRAKE] = TokenBrake()
    app[OPERATOR_BRAKE] = TokenBrake(attempts=settings.admin_failed_auth_per_minute)
    app[SECRET_BOX] = SecretBox(settings.secret_key, old=settings.old_secret_key)
    app.cleanup_ctx.append(_pool_ctx)
    app.cleanup_ctx.append(_metrics_ctx)
    app.cleanup_ctx.append(auth_ctx)
    app.cleanup_ctx.append(live_ctx)
    app.on_shutdown.append(end_streams)
    app.cleanup_ctx.append(http_client_ctx)
    app.cleanup_ctx.append(webhook_client_ctx)
    app.cleanup_ctx.append(scheduler_ctx)
    app.on_cleanup.append(_flush_access_log)
    for module in (
        health,
        oauth,
        keys,
        admin,
        catalog,
        orders,
        items,
        values,
        events,
        stream,
        reseller_settings,
        webhooks,
        subscriptions,
        metrics,
    ):
        app.add_routes(module.routes)
    openapi.setup(app)
    app.add_routes(console.routes)
    return app
