"""Lending the service's database connections: one at a time, within the
borrower's share, and kept between loans.

Every connection service.db.Database uses is lent here. The requests of one
reseller hold at most `share` connections at once (half the pool,
service.limits.pool_share), so another reseller always finds the other half;
a borrower past its share, or finding the pool taken, waits in line, first
come first served among those who may have the next connection, and nobody
waits longer than `timeout` in all (PoolBusy: a 503 database_busy).

The hot path is a loan with a connection free: a dict lookup, a list pop and
two counters, no await, no timer. A connection given back goes straight to
the first borrower in line who may have it. The line's time limits share one
timer, armed for its oldest borrower, not one per borrower.

Connections come from an asyncpg pool, which opens them (with the service's
session settings) and replaces broken ones. With `keep`, a connection given
back stays here for the next loan instead of going back to asyncpg's pool: a
loan then costs no task, timer or reset of asyncpg's (about a tenth of a GET
order's CPU time); close() gives them back before the pool closes. A
connection that broke, or comes back inside a transaction, goes back to
asyncpg, which rolls back or replaces it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses

import asyncpg


class PoolBusy(TimeoutError):
    """No connection came free within the acquire timeout: the pool, or the
    reseller's share of it, is busy (503 database_busy with Retry-After)."""


@dataclasses.dataclass(eq=False)
class _Waiting:
    future: asyncio.Future  # the connection lent, or None: a place in the pool to open one in
    borrower: int | None
    deadline: float


def _usable(conn: asyncpg.Connection) -> bool:
    """Open and outside a transaction. A pooled connection that broke has gone back to
    asyncpg's pool by itself, and its proxy then refuses every call."""
    try:
        return not conn.is_closed() and not conn.is_in_transaction()
    except asyncpg.InterfaceError:
        return False


class Lender:
    def __init__(self, pool: asyncpg.Pool, *, share: int, timeout: float, keep: bool) -> None:
        self.pool = pool
        self.share = share  # connections one borrower (a reseller) may hold at once
        self.timeout = timeout
        self.size = pool.get_max_size()
        self._keep = keep
        self._idle: list[asyncpg.Connection] = []  # kept, free
        self._open = 0  # taken from asyncpg's pool: lent, kept, or being opened
        self._lent: dict[int | None, int] = collections.defaultdict(int)
        self._line: collections.deque[_Waiting] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def idle(self) -> int:
        """Connections kept here, free."""
        return len(self._idle)

    def _may(self, borrower: int | None) -> bool:
        return borrower is None or self._lent[borrower] < self.share

    async def lend(self, borrower: int | None) -> asyncpg.Connection:
        """A connection for `borrower` (a reseller's id, or None for the service's own jobs,
        which have no share but the pool); give it back with give_back(conn, borrower)."""
        while self._may(borrower):
            if self._idle:
                conn = self._idle.pop()
                if not _usable(conn):  # the server ended it while it was kept
                    await self._return(conn)
                    continue
                self._lent[borrower] += 1
                return conn
            if self._open >= self.size:
                break
            self._open += 1
            self._lent[borrower] += 1
            return await self._opened(borrower)
        return await self._wait(borrower)

    async def _opened(self, borrower: int | None) -> asyncpg.Connection:
        """A connection from asyncpg's pool, in a place already counted as this borrower's."""
        try:
            return await self.pool.acquire()
        except BaseException:
            self._lent[borrower] -= 1
            self._place_freed()
            raise

    async def _wait(self, borrower: int | None) -> asyncpg.Connection:
        loop = asyncio.get_running_loop()
        waiting = _Waiting(loop.create_future(), borrower, loop.time() + self.timeout)
        self._line.append(waiting)
        if self._timer is None:
            self._timer = loop.call_at(waiting.deadline, self._expire)
        try:
            conn = await waiting.future
        except asyncio.CancelledError:
            if waiting.future.done() and not waiting.future.cancelled():
                # Lent while this borrower was being cancelled: pass it on.
                lent = waiting.future.result()
                if lent is None:
                    self._lent[borrower] -= 1
                    self._place_freed()
                else:
                    await self.give_back(lent, borrower)
            raise
        if conn is None:
            return await self._opened(borrower)
        return conn

    async def give_back(self, conn: asyncpg.Connection, borrower: int | None) -> None:
        self._lent[borrower] -= 1
        if self._keep and _usable(conn):
            if not self._serve(conn):
                self._idle.append(conn)
            return
        await self._return(conn)

    async def _return(self, conn: asyncpg.Connection) -> None:
        """Back to asyncpg's pool, which rolls back a transaction left open or replaces
        a broken connection; its place goes to the next borrower in line."""
        try:
            await self.pool.release(conn)
        finally:
            self._place_freed()

    def _place_freed(self) -> None:
        self._open -= 1
        if self._serve(None):
            self._open += 1  # the borrower served opens a connection in it

    def _serve(self, conn: asyncpg.Connection | None) -> bool:
        """Lend `conn` (or a place to open one) to the first borrower in line who may
        have it; whether there was one."""
        for index, waiting in enumerate(self._line):
            if waiting.future.done():
                continue  # timed out or cancelled; _expire drops it
            if self._may(waiting.borrower):
                del self._line[index]
                self._lent[waiting.borrower] += 1
                waiting.future.set_result(conn)
                return True
        return False

    def _expire(self) -> None:
        """The oldest borrowers in line have waited `timeout`: PoolBusy for them."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._line and (self._line[0].future.done() or self._line[0].deadline <= now):
            waiting = self._line.popleft()
            if not waiting.future.done():
                waiting.future.set_exception(self._busy(waiting.borrower))
        if self._line:
            self._timer = loop.call_at(self._line[0].deadline, self._expire)

    def _busy(self, borrower: int | None) -> PoolBusy:
        if borrower is not None and self._lent[borrower] >= self.share:
            return PoolBusy(f"this reseller's {self.share} database connections stayed busy for {self.timeout:g} s")
        return PoolBusy(f"all {self.size} database connections stayed busy for {self.timeout:g} s")

    async def close(self) -> None:
        """Give the kept connections back to asyncpg's pool, before it closes."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._idle:
            conn = self._idle.pop()
            self._open -= 1
            with contextlib.suppress(Exception):  # a broken one: asyncpg has ended it
                await self.pool.release(conn)
