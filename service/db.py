"""Database access: named queries loaded from sql/, the pool, the schema's
location, and `Database`, the one door through which the service runs SQL."""

from __future__ import annotations

import contextlib
import contextvars
import json
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import asyncpg

_HEADER = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


class QueryFileError(ValueError):
    """A .sql file of named queries cannot be loaded."""


def sql_dir(override: Path | None = None) -> Path:
    """Where sql/ is: a setting, the installed package, or the source checkout."""
    if override is not None:
        return override
    package = Path(__file__).resolve().parent
    for candidate in (package / "sql", package.parent / "sql"):
        if (candidate / "migrations").is_dir():
            return candidate
    raise FileNotFoundError(f"no sql/ directory next to {package} or its parent; set SQL_DIR")


def load_queries(directory: Path) -> Mapping[str, str]:
    """Read every `-- name: x` block of directory/*.sql into a read-only mapping."""
    queries: dict[str, str] = {}
    for path in sorted(directory.glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        parts = _HEADER.split(text)
        if parts[0].strip() and not all(
            line.startswith("--") or not line.strip() for line in parts[0].splitlines()
        ):
            raise QueryFileError(f"{path.name}: SQL before the first '-- name:' header")
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in queries:
                raise QueryFileError(f"{path.name}: query {name!r} is defined twice")
            sql = body.strip().rstrip(";").strip()
            if not sql:
                raise QueryFileError(f"{path.name}: query {name!r} is empty")
            queries[name] = sql
    return MappingProxyType(queries)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def connect_kwargs() -> dict:
    # PostgreSQL's default plan_cache_mode: a primary-key read is served by its
    # cached generic plan instead of being planned again on every execution;
    # the list queries are written so their generic plans are good too.
    return {"server_settings": {"application_name": "reseller-ordering", "timezone": "UTC"}}


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing. asyncpg's default costs a second
    round trip per request (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL),
    needed only by connections that keep session state; pooled connections keep
    none: advisory locks are transaction-scoped, SET is only ever LOCAL, there
    are no cursors outside transactions, and LISTEN has a connection of its own.
    asyncpg still rolls back a transaction left open."""


async def create_pool(dsn: str, *, max_size: int) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=30,
        **connect_kwargs(),
    )


# The connection of the transaction the current task is inside, if any.
# Per task: a request's work (and an Idempotency-Key's stored answer) joins
# one transaction without passing a connection through every call.
_current: contextvars.ContextVar[asyncpg.Connection | None] = contextvars.ContextVar(
    "current_connection", default=None
)


class Database:
    """Named queries run on the pool, or on the transaction the task is in.

    `transaction()` opens one (or a savepoint inside the current one), and
    every query the task runs until it ends goes through it; outside one, each
    query takes a pooled connection for itself. Never run queries of one
    transaction from tasks started inside it: they would share a connection.
    """

    def __init__(self, *, pool: asyncpg.Pool, queries: Mapping[str, str]) -> None:
        self.pool = pool
        self.queries = queries

    def _runner(self) -> asyncpg.Connection | asyncpg.Pool:
        conn = _current.get()
        return self.pool if conn is None else conn

    async def fetch(self, name: str, *args: Any) -> list[asyncpg.Record]:
        return await self._runner().fetch(self.queries[name], *args)

    async def fetch_planned(self, name: str, *args: Any) -> list[asyncpg.Record]:
        """fetch(), with a plan made for these values: a statement prepared for this call
        alone, never the cached generic plan. One more round trip; for the few queries
        whose best plan depends on their values (see orders_page_account)."""
        conn = _current.get()
        if conn is not None:
            return await (await conn.prepare(self.queries[name])).fetch(*args)
        async with self.pool.acquire() as conn:
            return await (await conn.prepare(self.queries[name])).fetch(*args)

    async def fetchrow(self, name: str, *args: Any) -> asyncpg.Record | None:
        return await self._runner().fetchrow(self.queries[name], *args)

    async def fetchval(self, name: str, *args: Any) -> Any:
        return await self._runner().fetchval(self.queries[name], *args)

    async def execute(self, name: str, *args: Any) -> str:
        return await self._runner().execute(self.queries[name], *args)

    @property
    def in_transaction(self) -> bool:
        return _current.get() is not None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        conn = _current.get()
        if conn is not None:
            # Nested: a savepoint, so a failed step rolls back alone.
            async with conn.transaction():
                yield conn
            return
        async with self.pool.acquire() as conn, conn.transaction():
            token = _current.set(conn)
            try:
                yield conn
            finally:
                _current.reset(token)
