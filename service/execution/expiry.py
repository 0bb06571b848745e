"""The jobs that delete what has expired: drafts (with their items), the
stored answers of Idempotency-Keys and old events, each in bounded batches.

Each batch is one statement and its own transaction, so a backlog never holds
locks on many rows for long, and replicas running a job at the same time split
the backlog between them (SKIP LOCKED) instead of waiting on each other.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from service.db import DATABASE_ERRORS, Database

logger = logging.getLogger(__name__)


class BatchedDelete:
    """Run a `-- name: query` that deletes up to $1 rows and returns how many,
    batch after batch, until a short batch or the bounds; drained on shutdown."""

    query = ""
    what = ""  # the log line: f"{what} deleted"

    def __init__(
        self,
        *,
        db: Database,
        batch_size: int = 1000,
        max_batches: int = 1000,
        max_seconds: float = 30.0,
        args: tuple = (),
    ) -> None:
        self._db = db
        self._args = args  # the query's parameters after the batch size
        self._batch_size = batch_size
        self._max_batches = max_batches
        self._max_seconds = max_seconds
        self._stopping = False
        self._runs: set[asyncio.Task] = set()
        self.failures = 0  # runs that failed (and were logged); read by the metrics

    async def run_once(self) -> int:
        """Delete until none is left (or the bounds are reached); return how many."""
        run = asyncio.current_task()
        self._runs.add(run)
        deleted, batches, after = 0, 0, None
        started = time.monotonic()
        try:
            while batches < self._max_batches and time.monotonic() - started < self._max_seconds:
                if self._stopping:
                    break
                count, after = await self._batch(after)
                deleted += count
                batches += 1
                # A short batch means nothing unlocked is left; locked rows are
                # being changed by a request or deleted by another replica.
                if count < self._batch_size:
                    break
        except DATABASE_ERRORS as exc:
            self.failures += 1
            logger.warning("%s not deleted; the next run retries", self.what, extra={"error": str(exc)[:200]})
        finally:
            self._runs.discard(run)
        log = logger.info if deleted else logger.debug
        log(
            "%s deleted",
            self.what,
            extra={
                "deleted": deleted,
                "batches": batches,
                "duration_ms": round((time.monotonic() - started) * 1000, 2),
            },
        )
        return deleted

    async def _batch(self, after: Any) -> tuple[int, Any]:
        """One batch: (rows deleted, where the next batch starts, for a query that walks in order)."""
        return await self._db.fetchval(self.query, self._batch_size, *self._args), None

    async def drain(self, timeout: float) -> None:
        """Start no new batch; give the current one up to timeout to commit."""
        self._stopping = True
        runs = set(self._runs)
        if runs:
            _, pending = await asyncio.wait(runs, timeout=timeout)
            for run in pending:
                run.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)


class DraftExpiry(BatchedDelete):
    """Expired drafts, with their items, executions and values (ON DELETE CASCADE).

    A run walks the drafts in id order, each batch starting after the last id
    the batch before it claimed: neighbouring ids share pages of the orders,
    their items and the events' order index, so a batch touches a few dozen
    pages instead of one per draft, and no batch passes again over the index
    entries of the drafts deleted before it (they stay until vacuum). A draft
    a request holds is passed over (SKIP LOCKED) and left to the next run."""

    query = "expiry_delete_batch"
    what = "expired drafts"

    async def _batch(self, after: Any) -> tuple[int, Any]:
        # Planned for its values every time: a cached generic plan, made without
        # knowing the LIMIT or where the walk is, deletes through a sequential
        # scan of orders (5 to 8 times slower a batch on the benchmark's data).
        (row,) = await self._db.fetch_planned(self.query, self._batch_size, after or 0)
        return row["deleted"], row["last_id"]


class IdempotencyKeyPurge(BatchedDelete):
    """Stored answers whose IDEMPOTENCY_TTL_SECONDS have passed."""

    query = "idempotency_purge_batch"
    what = "expired idempotency keys"


class EventRetention(BatchedDelete):
    """Events older than EVENT_RETENTION_DAYS (args: the days), also of deleted drafts."""

    query = "events_purge_batch"
    what = "old events"
