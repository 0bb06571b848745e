"""Writing one stream: its backlog from the database, then what the hub offers.

Runs in the request's own task after the response has started, so nothing
here can answer an error any more: a failure ends the stream, and the client
resumes with Last-Event-ID."""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from service.db import DATABASE_ERRORS, Database
from service.live import sse
from service.live.subscription import Subscription

logger = logging.getLogger(__name__)

BATCH = 200  # events per read, of the backlog and of the hub


async def pump(
    sub: Subscription, response: web.StreamResponse, *, db: Database, keepalive: float, resumed: bool
) -> str:
    """Write the stream until it must end; why it ended."""
    try:
        await response.write(sse.opening(sub.last, resumed=resumed))
        await _catch_up(sub, response, db)
        while not sub.ended:
            left = sub.deadline - time.monotonic()
            if left <= 0:
                sub.end("the stream reached its lifetime; reconnect with Last-Event-ID")
                break
            try:
                async with asyncio.timeout(min(keepalive, left)):
                    await sub.wait()
            except TimeoutError:
                if left > keepalive:
                    await response.write(sse.KEEPALIVE)
                continue
            chunk = sub.take()
            if chunk and not sub.ended:
                await response.write(chunk)
        return sub.ended
    except ConnectionError:
        return "the client closed the connection"
    except DATABASE_ERRORS as exc:
        logger.warning("live events: a stream's backlog cannot be read", extra={"error": str(exc)[:200]})
        return "the database is not reachable"


async def _catch_up(sub: Subscription, response: web.StreamResponse, db: Database) -> None:
    """Send the events after the stream's cursor up to the present, then hand over
    to the hub. The hub queues what it reads meanwhile; if the queue overflowed,
    read again: the dropped events are in the database."""
    while not sub.ended:
        sub.overflowed = False
        xid, event_id = sub.last
        rows = await db.fetch(
            "events_feed", sub.reseller_id, str(xid), event_id, sub.event_type, sub.order_id, BATCH
        )
        if rows:
            chunk = b"".join(sse.message(row) for row in rows)
            sub.sent(sse.position_of(rows[-1]))
            await response.write(chunk)
        if len(rows) < BATCH and not sub.overflowed:
            sub.catching_up = False
            return
