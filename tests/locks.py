"""Hold an order's (or a subscription's) row lock from the test, so a request
blocks inside its own transaction at a known point, and wait until it does."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg

from service import db

_LOCK = {
    "orders": "SELECT id FROM orders WHERE id = $1 FOR UPDATE",
    "subscriptions": "SELECT id FROM subscriptions WHERE id = $1 FOR UPDATE",
}


@contextlib.asynccontextmanager
async def row_held(dsn: str, table: str, row_id: int) -> AsyncIterator[asyncpg.Connection]:
    """The row locked FOR UPDATE on a connection of the test's own, until the
    block ends (then rolled back: nothing of it stays)."""
    holder = await asyncpg.connect(dsn, **db.connect_kwargs())
    try:
        async with holder.transaction():
            await holder.execute(_LOCK[table], row_id)
            yield holder
    finally:
        await holder.close()


def order_held(dsn: str, order_id: int) -> contextlib.AbstractAsyncContextManager[asyncpg.Connection]:
    return row_held(dsn, "orders", order_id)


async def waiting_for_locks(conn: asyncpg.Connection, count: int, *, within: float = 10.0) -> list[int]:
    """The pids of `count` backends of this database waiting for a lock."""
    deadline = time.monotonic() + within
    while True:
        # Activity is read once per transaction; conn may be inside one.
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        pids = [
            row["pid"]
            for row in await conn.fetch(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
        ]
        if len(pids) >= count:
            return pids
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(pids)} backends waiting for a lock, expected {count}")
        await asyncio.sleep(0.02)
