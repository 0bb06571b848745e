"""Database access: named queries loaded from sql/, the pool, the schema's
location, and `Database`, the one door through which the service runs SQL."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import asyncpg
from asyncpg import exceptions as pg

from service.connections import Lender, PoolBusy
from service.limits import STATEMENT_TIMEOUT_SECONDS, pool_share
from service.settings import Settings

__all__ = ["Database", "OutcomeUnknown", "PoolBusy"]

logger = logging.getLogger(__name__)

_HEADER = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
# A value's place in a script (Database.script): {name}.
SLOT = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


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
    _notice_silent_peer(conn)
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


# How long a statement may run (service.limits): PostgreSQL enforces it (57014,
# mapped to 503). Not asyncpg's command_timeout: it arms and cancels a timer for
# every query, about a tenth of a GET order's CPU on the standard asyncio loop.
# A database host that vanishes without a reset (power loss, a partition)
# would otherwise hold a connection, and its request, until TCP gives up after
# many minutes: keepalive probes notice silence, TCP_USER_TIMEOUT unacked data.
_TCP_OPTIONS = (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3), ("TCP_USER_TIMEOUT", 30_000))


def _notice_silent_peer(conn: asyncpg.Connection) -> None:
    transport = getattr(conn, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # a Unix socket (the embedded server) has no peer to lose
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in _TCP_OPTIONS:
        if hasattr(socket, name):  # Linux has all four
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


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


def _ms(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms"


async def create_pool(
    dsn: str,
    *,
    max_size: int,
    statement_timeout: float = STATEMENT_TIMEOUT_SECONDS,
    lock_timeout: float = Settings.lock_timeout_seconds,
    idle_in_transaction_timeout: float = Settings.idle_in_transaction_timeout_seconds,
    connect_timeout: float = Settings.db_acquire_timeout_seconds,
) -> asyncpg.Pool:
    """The service's pool. Its sessions wait at most `lock_timeout` for a row or
    table lock (55P03: 409 order_busy on a change, service.http.middleware), so a
    row someone holds ties up a connection for seconds, not for the statement
    timeout; and a transaction left idle longer than `idle_in_transaction_timeout`
    is ended by the server, so none of ours holds the feed's horizon for long."""
    settings = connect_kwargs()["server_settings"]
    return await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        # Opening a connection counts as waiting for one: bounded like an acquire.
        timeout=connect_timeout,
        server_settings={
            **settings,
            "statement_timeout": _ms(statement_timeout),
            "lock_timeout": _ms(lock_timeout),
            "idle_in_transaction_session_timeout": _ms(idle_in_transaction_timeout),
        },
    )


# What "the database is not available right now" looks like through asyncpg:
# it cannot be reached or refuses new sessions (starting up, shutting down,
# out of connections or resources), or a session broke under a statement.
UNAVAILABLE_ERRORS = (
    OSError,  # refused, reset, no route, no socket file (ConnectionError, OutcomeUnknown)
    TimeoutError,  # a pool acquire given a timeout
    pg.QueryCanceledError,  # 57014: a statement ran past STATEMENT_TIMEOUT_SECONDS
    asyncpg.PostgresConnectionError,  # class 08, and ConnectionDoesNotExistError
    pg.CannotConnectNowError,  # 57P03: starting up, shutting down, in recovery
    pg.AdminShutdownError,  # 57P01: the server terminated the session
    pg.CrashShutdownError,  # 57P02
    pg.IdleSessionTimeoutError,  # 57P05
    pg.IdleInTransactionSessionTimeoutError,  # 25P03: a transaction of ours idled past its bound
    pg.InsufficientResourcesError,  # class 53: too many connections, disk full, out of memory
    asyncpg.InterfaceError,  # "connection is closed", "pool is closing"
    pg.InternalClientError,  # protocol state left behind by a connection broken mid-operation
)
# Raised by the client, or by a server ending the session, while a statement
# was in flight: nobody knows whether a COMMIT it carried took effect. Any
# other error the server reports means the statement did not commit.
_SERVER_ANSWERED = (asyncpg.PostgresError,)
_SESSION_ENDED = (
    pg.ConnectionDoesNotExistError,
    pg.AdminShutdownError,
    pg.CrashShutdownError,
    pg.IdleInTransactionSessionTimeoutError,
)
_WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)


# Everything a statement can fail with that is the database's doing: jobs log
# these as warnings and try again on their next run.
DATABASE_ERRORS = (asyncpg.PostgresError, *UNAVAILABLE_ERRORS)


def unavailable(exc: BaseException) -> bool:
    """Whether exc means the database is not available right now (a 503, never a 500)."""
    return isinstance(exc, UNAVAILABLE_ERRORS)


def _lost_in_flight(exc: BaseException) -> bool:
    if isinstance(exc, _SERVER_ANSWERED) and not isinstance(exc, _SESSION_ENDED):
        return False
    return unavailable(exc)


class OutcomeUnknown(ConnectionError):
    """The connection was lost after a change was sent to be committed and
    before the answer came back: it may or may not have been applied."""


# The connection of the transaction the current task is inside, if any.
# Per task: a request's work (and an Idempotency-Key's stored answer) joins
# one transaction without passing a connection through every call.
_current: contextvars.ContextVar[asyncpg.Connection | None] = contextvars.ContextVar(
    "current_connection", default=None
)
# Whether that transaction was begun by a script (Database.scripted): then a
# nested transaction() joins it as it is, without a savepoint of its own.
_scripted: contextvars.ContextVar[bool] = contextvars.ContextVar("scripted_transaction", default=False)
# The reseller whose request the current task serves (set once per request by
# service.http.access), or None for the jobs: whose share of the pool it draws on.
_tenant: contextvars.ContextVar[int | None] = contextvars.ContextVar("current_tenant", default=None)


def serve_tenant(reseller_id: int) -> None:
    """From here on, the current task's queries count against this reseller's share.
    Each request runs in a task of its own, so this ends with the request."""
    _tenant.set(reseller_id)


class Database:
    """Named queries run on the pool, or on the transaction the task is in.

    `transaction()` opens one (or a savepoint inside the current one), and
    every query the task runs until it ends goes through it; outside one, each
    query takes a pooled connection for itself. Never run queries of one
    transaction from tasks started inside it: they would share a connection.

    Every connection is taken here, so here the pool is shared fairly
    (service.connections.Lender): the requests of one reseller hold at most
    `share` connections at once (half the pool, service.limits.pool_share) and
    wait for their own share beyond that; nobody waits longer than
    `acquire_timeout` in all (PoolBusy, a 503). With `keep` (the service's own
    Database) connections stay with it between uses rather than going back to
    asyncpg's pool; close() gives them back.
    """

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        queries: Mapping[str, str],
        acquire_timeout: float = Settings.db_acquire_timeout_seconds,
        share: int | None = None,
        keep: bool = False,
    ) -> None:
        self.pool = pool
        self.queries = queries
        # Statements that change rows: losing the connection under one of them
        # outside a transaction leaves its outcome unknown.
        self._writes = frozenset(name for name, sql in queries.items() if _WRITES.search(sql))
        self._templates: dict[tuple[str, ...], list[str]] = {}  # script(): each script split at its slots
        size = pool.get_max_size()
        self._lender = Lender(
            pool, share=pool_share(size) if share is None else share, timeout=acquire_timeout, keep=keep
        )

    @property
    def share(self) -> int:
        return self._lender.share

    @share.setter
    def share(self, share: int) -> None:
        self._lender.share = share

    def get_size(self) -> int:
        """Connections open (the pool gauge, service.metrics)."""
        return self.pool.get_size()

    def get_idle_size(self) -> int:
        """Connections open and free: in asyncpg's pool, or kept here."""
        return self.pool.get_idle_size() + self._lender.idle

    async def close(self) -> None:
        """Give back the connections kept here; then the pool can close."""
        await self._lender.close()

    async def fetch(self, name: str, *args: Any) -> list[asyncpg.Record]:
        conn = _current.get()
        if conn is None:
            return await self._alone("fetch", name, args)
        return await conn.fetch(self.queries[name], *args)

    async def fetch_planned(self, name: str, *args: Any) -> list[asyncpg.Record]:
        """fetch(), with a plan made for these values: a statement prepared for this call
        alone, never the cached generic plan. One more round trip; for the few queries
        whose best plan depends on their values (see orders_page_account)."""
        conn = _current.get()
        if conn is not None:
            return await (await conn.prepare(self.queries[name])).fetch(*args)
        conn, tenant = await self._acquire()
        try:
            return await (await conn.prepare(self.queries[name])).fetch(*args)
        finally:
            await self._release(conn, tenant)

    async def fetchrow(self, name: str, *args: Any) -> asyncpg.Record | None:
        conn = _current.get()
        if conn is None:
            return await self._alone("fetchrow", name, args)
        return await conn.fetchrow(self.queries[name], *args)

    async def fetchval(self, name: str, *args: Any) -> Any:
        conn = _current.get()
        if conn is None:
            return await self._alone("fetchval", name, args)
        return await conn.fetchval(self.queries[name], *args)

    async def execute(self, name: str, *args: Any) -> str:
        conn = _current.get()
        if conn is None:
            return await self._alone("execute", name, args)
        return await conn.execute(self.queries[name], *args)

    async def _alone(self, method: str, name: str, args: tuple) -> Any:
        """One statement on a pooled connection of its own, committed by itself."""
        conn, tenant = await self._acquire()
        try:
            return await getattr(conn, method)(self.queries[name], *args)
        except Exception as exc:
            if name in self._writes and _lost_in_flight(exc):
                raise OutcomeUnknown(f"connection lost during {name}: {type(exc).__name__}") from exc
            raise
        finally:
            await self._release(conn, tenant)

    async def _acquire(self) -> tuple[asyncpg.Connection, int | None]:
        """A pooled connection, within the current reseller's share; PoolBusy
        when none comes free within the acquire timeout."""
        tenant = _tenant.get()
        return await self._lender.lend(tenant), tenant

    async def _release(self, conn: asyncpg.Connection, tenant: int | None) -> None:
        try:
            await self._lender.give_back(conn, tenant)
        except Exception as exc:
            # asyncpg could not reset the connection and has terminated it, so
            # it never serves again; what ran on it has its answer already.
            logger.warning(
                "a broken database connection was discarded",
                extra={"error": f"{type(exc).__name__}: {str(exc)[:200]}"},
            )

    @property
    def in_transaction(self) -> bool:
        return _current.get() is not None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        conn = _current.get()
        if conn is not None:
            if _scripted.get():
                # A scripted transaction ends whole: its owner undoes what failed.
                yield conn
                return
            # Nested: a savepoint, so a failed step rolls back alone.
            async with conn.transaction():
                yield conn
            return
        conn, tenant = await self._acquire()
        try:
            transaction = conn.transaction()
            await transaction.start()
            token = _current.set(conn)
            try:
                yield conn
            except BaseException:
                _current.reset(token)
                await _undo(transaction.rollback(), conn)
                raise
            _current.reset(token)
            try:
                await transaction.commit()
            except Exception as exc:
                if _lost_in_flight(exc):
                    raise OutcomeUnknown(f"connection lost during COMMIT: {type(exc).__name__}") from exc
                raise
        finally:
            await self._release(conn, tenant)

    def script(self, *names: str, **values: int | bytes) -> str:
        """The named scripts, in order, with their {slots} filled: one simple query of
        several statements, for one round trip where the extended protocol (one
        statement a round trip) would take several. A simple query takes no
        parameters, so the values are written into its text, and only values that
        cannot be anything but themselves are taken: integers, and bytes (as a
        string of hex digits, which the script reads with decode({slot}, 'hex')).
        Never text: a script never holds a client's words."""
        parts = self._templates.get(names)
        if parts is None:
            # Split once: the text between the slots, and the slots' names at the odd places.
            text = ";\n".join(_without_comments(self.queries[name]) for name in names)
            parts = self._templates[names] = SLOT.split(text)
        filled = list(parts)
        for index in range(1, len(filled), 2):
            filled[index] = _literal(filled[index], values[filled[index]])
        return "".join(filled)

    @contextlib.asynccontextmanager
    async def scripted(self, opening: str) -> AsyncIterator[Scripted]:
        """A transaction begun by a script (`opening`, BEGIN first, see script()), on
        a connection of its own. The task's queries join it until the block ends,
        nested transaction() blocks too, without savepoints: the owner decides what
        to undo. It ends with `Scripted.end(script)`, the script that commits or
        rolls back; a block left without it (an error, or a choice) rolls it back."""
        if _current.get() is not None:
            raise RuntimeError("a scripted transaction cannot be nested in another transaction")
        conn, tenant = await self._acquire()
        try:
            handle = Scripted(conn, self.queries["transaction_rollback"])
            try:
                handle.status = await conn.execute(opening)
            except BaseException:
                await handle.abandon()
                raise
            token, joined = _current.set(conn), _scripted.set(True)
            try:
                yield handle
            finally:
                _current.reset(token)
                _scripted.reset(joined)
                await handle.abandon()
        finally:
            await self._release(conn, tenant)


def _without_comments(sql: str) -> str:
    """A script without its comment lines: they would travel with every request."""
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


def _literal(name: str, value: object) -> str:
    if isinstance(value, bytes):
        return f"'{value.hex()}'"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(int(value))
    raise TypeError(f"a script's value must be an int or bytes, not {type(value).__name__} ({name})")


class Scripted:
    """A transaction Database.scripted began: the command tag of its opening's
    last statement, and the end of it."""

    def __init__(self, conn: asyncpg.Connection, rollback: str) -> None:
        self.status = ""
        self._conn = conn
        self._rollback = rollback
        self._ended = False

    async def end(self, script: str) -> str:
        """Run the script that ends the transaction (its last statement COMMIT or
        ROLLBACK); its last command tag. A statement of it that fails ends the
        transaction undone; a connection lost meanwhile raises OutcomeUnknown."""
        self._ended = True
        try:
            return await self._conn.execute(script)
        except Exception as exc:
            if _lost_in_flight(exc):
                raise OutcomeUnknown(f"connection lost during a commit: {type(exc).__name__}") from exc
            self._ended = False  # the server undid it all, and waits for the ROLLBACK
            raise

    async def abandon(self) -> None:
        """Roll back, unless it has ended (or the connection has broken: then it
        never serves again, and the server rolls back on its own)."""
        if self._ended:
            return
        self._ended = True
        await _undo(self._rollback_if_open(), self._conn)

    async def _rollback_if_open(self) -> None:
        if self._conn.is_in_transaction():
            await self._conn.execute(self._rollback)


async def _undo(rollback: Awaitable[Any], conn: asyncpg.Connection) -> None:
    try:
        await rollback
    except Exception:  # noqa: BLE001 - whatever broke, the connection is ended below
        # The connection broke: the server rolls back on its own, and this
        # connection must not go back to the pool.
        with contextlib.suppress(Exception):
            conn.terminate()
