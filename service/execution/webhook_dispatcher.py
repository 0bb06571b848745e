"""The dispatch job: committed order events become webhook deliveries (the outbox).

Every change writes its event in its own transaction (service.domain.events),
so an event exists exactly when its change committed; this job reads those
events, never an in-memory queue, so a crash anywhere loses nothing. It keeps
a position per reseller with webhooks (table webhook_dispatch) and reads each
reseller's events after it as the feed does, by (xid, id) and only from
transactions older than every one still running, so no event can commit
behind a position already passed. In one transaction it inserts the
deliveries of a batch and moves the position past it: both happen or neither.

One replica dispatches at a time: the transaction starts with
pg_try_advisory_xact_lock, and a replica that does not get it does nothing
(the one that has it is doing the work). The unique key (event, webhook) of
webhook_deliveries stands behind the lock: a delivery is made once, whatever
happens. The request path pays nothing: no order write does any of this.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import asyncpg

from service.db import DATABASE_ERRORS, Database
from service.execution.leases import Runs

logger = logging.getLogger(__name__)

# Any fixed number works; it only has to be the same in every replica.
LOCK_KEY = 0x5E5E11E2_0005


class WebhookDispatcher:
    def __init__(
        self,
        *,
        db: Database,
        batch_size: int = 500,
        max_batches: int = 100,
    ) -> None:
        self._db = db
        self._batch_size = batch_size
        self._max_batches = max_batches
        self._runs = Runs()
        self.events_read = 0  # events read by this process, for tests and metrics

    async def run_once(self, *, on_dispatched: Callable[[], None] | None = None) -> int:
        """Dispatch until caught up (or the bound is reached); return the deliveries made here.
        `on_dispatched` is called after each batch that made deliveries (the scheduler
        passes the sender's kick, so this process starts sending them at once)."""
        made, batches = 0, 0
        started = time.monotonic()
        with self._runs.tracked():
            try:
                while batches < self._max_batches and not self._runs.stopping:
                    result = await self._batch()
                    if result is None:
                        break  # another replica is dispatching
                    made += result["deliveries"]
                    batches += 1
                    if result["deliveries"] and on_dispatched is not None:
                        on_dispatched()
                    if result["fullest"] < self._batch_size:
                        break
            except DATABASE_ERRORS as exc:
                logger.warning(
                    "webhook dispatch failed; the next run retries", extra={"error": str(exc)[:200]}
                )
        if made:
            logger.debug(
                "webhook deliveries made",
                extra={"deliveries": made, "duration_ms": round((time.monotonic() - started) * 1000, 2)},
            )
        return made

    async def _batch(self) -> asyncpg.Record | None:
        async with self._db.transaction():
            if not await self._db.fetchval("webhook_dispatch_lock", LOCK_KEY):
                return None
            result = await self._db.fetchrow("webhook_dispatch", self._batch_size)
        self.events_read += result["events"]
        return result

    async def drain(self, timeout: float) -> None:
        """Start no new batch; give the current one up to timeout to commit."""
        self._runs.stop()
        runs = self._runs.tasks
        if runs:
            await asyncio.wait(runs, timeout=timeout)
        await self._runs.cancel()
