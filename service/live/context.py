"""The cleanup context of live events: the hub, its listener and sweeper.

Streams never hold up a shutdown: aiohttp runs `on_shutdown` after the
listening socket closes and before it waits for the requests still running,
and `end_streams` ends every stream there, so each handler returns at once
and the client reconnects elsewhere with Last-Event-ID."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from service.live.hub import Hub
from service.live.listener import CONNECT_TIMEOUT_SECONDS, Listener
from service.state import CREDENTIALS, DATABASE, DSN, LIVE_HUB, QUERIES, SETTINGS, SIGNER

logger = logging.getLogger(__name__)


async def live_ctx(app: web.Application):
    settings = app[SETTINGS]
    hub = Hub(
        db=app[DATABASE],
        signer=app[SIGNER],
        credentials=app[CREDENTIALS],
        max_per_credential=settings.sse_max_streams_per_credential,
        max_per_reseller=settings.sse_max_streams_per_reseller,
        queue_limit=settings.sse_queue_size,
        fallback_seconds=settings.sse_fallback_poll_seconds,
        max_stream_seconds=settings.sse_max_stream_seconds,
        keepalive_seconds=settings.sse_keepalive_seconds,
        # A stream whose client left is noticed within a second or two.
        retry_after_seconds=2,
    )
    await hub.start()
    listener = Listener(dsn=app[DSN], queries=app[QUERIES], wake=hub.wake)
    app[LIVE_HUB] = hub
    tasks = [
        asyncio.create_task(listener.run(), name="live-listener"),
        asyncio.create_task(hub.run(), name="live-hub"),
        asyncio.create_task(hub.sweep(), name="live-sweeper"),
    ]
    try:
        # Serve at once even without it (the hub's timer reads anyway), but
        # normally start listening before the first request.
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
            await listener.connected.wait()
    except TimeoutError:
        logger.warning(
            "live events: no listener yet; the feed is read on a timer meanwhile",
            extra={"fallback_poll_seconds": settings.sse_fallback_poll_seconds},
        )
    yield
    hub.end_all("the server is stopping")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def end_streams(app: web.Application) -> None:
    """on_shutdown: end every open stream so no request waits for one."""
    hub = app.get(LIVE_HUB)
    if hub is not None:
        hub.end_all("the server is stopping")
