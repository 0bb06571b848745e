"""What every job that claims rows under a lease shares: the poll job
(service.execution.poller) and the webhook sender (service.execution.webhook_sender).

Such a job claims due rows in a short transaction (FOR UPDATE SKIP LOCKED,
`lease_until` and a fresh `lease_token`), gives the connection back, works on
each row in its own task with no connection held, and writes each result
guarded by the token. Correctness lives in that SQL; this module keeps the
process-side bookkeeping around it:

- `Runs`: the job's ticks running in this process, so shutdown can wait for
  them and nothing new starts once it has begun;
- `Claims`: the rows this process holds while their work runs (task -> row id
  and token), so shutdown can cancel what outlives its timeout and hand those
  rows back at once instead of leaving them to their lease;
- `drain`: that shutdown, the same for every job;
- retry delays: exponential backoff with equal jitter, and a fixed schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any

from service.db import Database

logger = logging.getLogger(__name__)


def new_token() -> uuid.UUID:
    """The token of one claim: every result write of the claimed rows names it."""
    return uuid.uuid4()


class Runs:
    """The ticks of one job running in this process."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()
        self.stopping = False
        # Set on stop, so a tick waiting for something else wakes up and ends.
        self.stopped = asyncio.Event()

    @contextlib.contextmanager
    def tracked(self) -> Iterator[None]:
        """Count the current task as a tick until the block ends."""
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            yield
        finally:
            self._tasks.discard(task)

    def stop(self) -> None:
        """Claim nothing more; work already claimed goes on."""
        self.stopping = True
        self.stopped.set()

    @property
    def tasks(self) -> set[asyncio.Task]:
        return set(self._tasks)

    async def cancel(self) -> None:
        tasks = self.tasks
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


class Claims:
    """Rows this process claimed whose work still runs, by the task doing it.

    `release_query` hands rows back: it takes ($1 row ids bigint[], $2 token)
    and returns one row per row released."""

    def __init__(
        self, *, db: Database, release_query: str, what: str, on_done: Callable[[], None] | None = None
    ) -> None:
        self._db = db
        self._release_query = release_query
        self._what = what
        self._held: dict[asyncio.Task, tuple[int, uuid.UUID]] = {}
        # Called whenever a task ends: a job waiting for room to claim more wakes up.
        self._on_done = on_done

    def __len__(self) -> int:
        return len(self._held)

    @property
    def tasks(self) -> set[asyncio.Task]:
        return set(self._held)

    def start(self, work: Coroutine[Any, Any, Any], *, row_id: int, token: uuid.UUID) -> asyncio.Task:
        """Run the work of one claimed row in its own task, held until the task ends."""
        task = asyncio.create_task(work)
        self._held[task] = (row_id, token)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._held.pop(task, None)
        if self._on_done is not None:
            self._on_done()

    async def abandon(self) -> int:
        """Cancel the work still running and hand its rows back; return how many were released."""
        abandoned = dict(self._held)
        for task in abandoned:
            task.cancel()
        if abandoned:
            await asyncio.gather(*abandoned, return_exceptions=True)
        by_token: dict[uuid.UUID, list[int]] = {}
        for row_id, token in abandoned.values():
            by_token.setdefault(token, []).append(row_id)
        released = 0
        for token, row_ids in by_token.items():
            released += len(await self._db.fetch(self._release_query, row_ids, token))
        if by_token:
            logger.info(f"released unfinished {self._what} on shutdown", extra={"released": released})
        return released


async def drain(runs: Runs, claims: Claims, timeout: float) -> None:
    """Stop claiming; give ticks and claimed work up to `timeout` to finish and
    record their results; then cancel the rest and hand its rows back."""
    runs.stop()
    pending = runs.tasks | claims.tasks
    if pending:
        await asyncio.wait(pending, timeout=timeout)
    await claims.abandon()
    await runs.cancel()


def backoff(attempts: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with equal jitter: never sooner than half the step, so
    workers that failed together do not all come back at the same instant."""
    ceiling = min(cap, base * 2 ** max(attempts - 1, 0))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def scheduled_delay(attempt: int, schedule: Sequence[float]) -> float | None:
    """The wait after failed attempt number `attempt` (1 = the first), or None
    when the schedule is used up."""
    if 1 <= attempt <= len(schedule):
        return schedule[attempt - 1]
    return None
