"""The process's one LISTEN: a dedicated connection, never one of the pool's.

Pooled connections must keep no session state (the pool hands them out
without asyncpg's reset, see service.db), and LISTEN is session state. This
connection only waits: each notification of the channel wakes the hub. If
the database goes away the connection is made again with backoff, and the
hub reads at once after each (re)connection, since notifications sent while
nobody listened are lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

import asyncpg

from service import db
from service.db import DATABASE_ERRORS

logger = logging.getLogger(__name__)

CHANNEL = "order_events"  # sql/migrations/0006_live_events.sql
APPLICATION_NAME = "reseller-ordering-listener"
PING_SECONDS = 10.0  # a connection dropped without a word is noticed this fast
CONNECT_TIMEOUT_SECONDS = 5.0
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0


class Listener:
    def __init__(self, *, dsn: str, queries: Mapping[str, str], wake: Callable[[], None]) -> None:
        self._dsn = dsn
        self._queries = queries
        self._wake = wake
        self.connected = asyncio.Event()  # for tests and readiness of the hub

    def _notified(self, connection, pid, channel, payload) -> None:
        self._wake()

    async def _connect(self) -> asyncpg.Connection:
        kwargs = db.connect_kwargs()
        kwargs["server_settings"] = {**kwargs["server_settings"], "application_name": APPLICATION_NAME}
        return await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT_SECONDS, **kwargs)

    async def run(self) -> None:
        """Listen, forever: cancelled when the application stops."""
        backoff = BACKOFF_FIRST_SECONDS
        while True:
            conn = None
            try:
                conn = await self._connect()
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._notified)
                self.connected.set()
                self._wake()  # what committed while nobody listened
                backoff = BACKOFF_FIRST_SECONDS
                await self._hold(conn, lost)
            except DATABASE_ERRORS as exc:
                logger.warning(
                    "live events: the listener lost the database; reconnecting",
                    extra={"error": str(exc)[:200], "retry_in_seconds": backoff},
                )
            finally:
                self.connected.clear()
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)

    async def _hold(self, conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        while not lost.is_set():
            try:
                async with asyncio.timeout(PING_SECONDS):
                    await lost.wait()
            except TimeoutError:
                await conn.fetchval(self._queries["live_ping"], timeout=CONNECT_TIMEOUT_SECONDS)
        raise ConnectionResetError("the listener's connection was closed")
