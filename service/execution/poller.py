"""The poll job: move every executing item one step forward per tick.

A tick claims due items in a short transaction (FOR UPDATE SKIP LOCKED, a
lease and a token), gives the connection back, makes at most one outbound
call per item with no connection held, then writes each result in its own
short transaction guarded by the token. Replicas running ticks at the same
time share the work instead of repeating it; a replica killed mid-call leaves
rows whose lease runs out, and the next claimer repeats the step, which the
connector's idempotency key makes harmless.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Iterable

import aiohttp
import asyncpg

from service.db import Database
from service.execution.connectors import (
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    Outcome,
    RetryableError,
    Work,
    connector_for,
    failed,
)

logger = logging.getLogger(__name__)


class Poller:
    def __init__(
        self,
        *,
        db: Database,
        session: aiohttp.ClientSession,
        lease_seconds: float,
        concurrency: int,
        retry_base_seconds: float = 1.0,
        retry_max_seconds: float = 60.0,
        max_rounds: int = 20,
        rng: random.Random | None = None,
    ) -> None:
        self._db = db
        self._session = session
        self._lease_seconds = lease_seconds
        self._concurrency = concurrency
        self._retry_base = retry_base_seconds
        self._retry_max = retry_max_seconds
        self._max_rounds = max_rounds
        self._rng = rng or random.Random()
        self._stopping = False
        self._runs: set[asyncio.Task] = set()
        self.failures = 0  # ticks that failed (and were logged); read by the metrics
        # item task -> (item id, claim token), for releasing leases on shutdown
        self._in_flight: dict[asyncio.Task, tuple[int, uuid.UUID]] = {}

    async def run_once(self) -> int:
        """One tick; returns how many items were stepped. Never raises for a bad connector or database."""
        run = asyncio.current_task()
        self._runs.add(run)
        try:
            return await self._tick()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            self.failures += 1
            logger.warning("poll tick failed; the next tick retries", extra={"error": str(exc)[:200]})
            return 0
        finally:
            self._runs.discard(run)

    async def _tick(self) -> int:
        handled: list[int] = []
        semaphore = asyncio.Semaphore(self._concurrency)
        for _ in range(self._max_rounds):
            if self._stopping:
                break
            token = uuid.uuid4()
            claims = await self._db.fetch(
                "execution_claim", self._concurrency, self._lease_seconds, token, handled
            )
            if not claims:
                break
            handled.extend(c["item_id"] for c in claims)
            await self._refresh_orders({c["order_id"] for c in claims})
            tasks = {}
            for claim in claims:
                task = asyncio.create_task(self._step(claim, token, semaphore))
                tasks[task] = (claim["item_id"], token)
            self._in_flight.update(tasks)
            try:
                results = await asyncio.gather(*tasks, return_exceptions=True)
            finally:
                for task in tasks:
                    self._in_flight.pop(task, None)
            for (item_id, _), result in zip(tasks.values(), results, strict=True):
                if isinstance(result, Exception):
                    # The lease runs out and another tick takes the step again.
                    logger.warning(
                        "could not record an item's step",
                        extra={"item_id": item_id, "error": str(result)[:200]},
                    )
            if len(claims) < self._concurrency:
                break
        return len(handled)

    async def _step(self, claim: asyncpg.Record, token: uuid.UUID, semaphore: asyncio.Semaphore) -> None:
        item_id = claim["item_id"]
        if claim["overdue"]:
            reason = f"not provisioned before its deadline {claim['deadline_at']:%Y-%m-%dT%H:%M:%SZ}"
            if claim["message"]:
                reason += f"; last problem: {claim['message']}"
            await self._record(claim, token, failed(reason))
            return
        connector = connector_for(claim["fulfillment"], session=self._session)
        if isinstance(connector, Outcome):
            await self._record(claim, token, connector)
            return
        work = Work(
            item_id=item_id,
            order_id=claim["order_id"],
            account_id=claim["account_id"],
            sku=claim["sku"],
            quantity=claim["quantity"],
            billing_cycle=claim["billing_cycle"],
            characteristics=claim["characteristics"] or {},
            operation_id=claim["operation_id"],
        )
        try:
            async with semaphore:
                outcome = await connector.advance(work)
        except RetryableError as exc:
            await self._retry_later(claim, token, str(exc))
            return
        except Exception as exc:
            # A defect on our side must not fail the customer's item at once;
            # the deadline still bounds how long it is retried.
            logger.exception("connector step raised", extra={"item_id": item_id})
            await self._retry_later(claim, token, f"unexpected error: {type(exc).__name__}")
            return
        await self._record(claim, token, outcome)

    async def _record(self, claim: asyncpg.Record, token: uuid.UUID, outcome: Outcome) -> None:
        item_id, order_id = claim["item_id"], claim["order_id"]
        if outcome.status == IN_PROGRESS and outcome.operation_id is not None:
            query, args = "execution_submitted", (outcome.operation_id,)
        elif outcome.status == IN_PROGRESS:
            query, args = "execution_still_running", (outcome.message,)
        else:
            query, args = "execution_finished", (outcome.status, outcome.subscription_id, outcome.message)
        async with self._db.transaction():
            await self._db.fetchval("execution_order_lock", order_id)
            written = await self._db.fetchval(query, item_id, token, *args)
            if written is None:
                logger.warning(
                    "lease lost before the result was written; another worker owns the item",
                    extra={"item_id": item_id, "order_id": order_id},
                )
                return
            changed = await self._db.fetchrow("execution_order_refresh", order_id)
        log = logger.info if outcome.status in (COMPLETED, FAILED) else logger.debug
        log(
            "item step recorded",
            extra={
                "item_id": item_id,
                "order_id": order_id,
                "status": outcome.status,
                "operation_id": outcome.operation_id,
                "reason": outcome.message if outcome.status == FAILED else None,
                "order_status": changed["status"] if changed else None,
            },
        )

    async def _retry_later(self, claim: asyncpg.Record, token: uuid.UUID, reason: str) -> None:
        # Equal jitter: never sooner than half the backoff, so replicas that
        # failed together do not all come back at the same instant.
        ceiling = min(self._retry_max, self._retry_base * 2 ** max(claim["attempts"] - 1, 0))
        delay = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        row = await self._db.fetchrow("execution_retry_later", claim["item_id"], token, delay, reason[:500])
        logger.info(
            "item step will be retried",
            extra={
                "item_id": claim["item_id"],
                "attempts": claim["attempts"],
                "delay_seconds": round(delay, 3),
                "reason": reason,
                "lease_lost": row is None,
            },
        )

    async def _refresh_orders(self, order_ids: Iterable[int]) -> None:
        """Orders whose first items were just claimed become In Progress."""
        for order_id in sorted(order_ids):
            async with self._db.transaction():
                await self._db.fetchval("execution_order_lock", order_id)
                await self._db.fetchrow("execution_order_refresh", order_id)

    def stop(self) -> None:
        """Claim nothing more; steps already claimed go on."""
        self._stopping = True

    async def drain(self, timeout: float) -> None:
        """Wait up to timeout for running ticks, then cancel what is left and hand its items back."""
        self.stop()
        runs = set(self._runs)
        if runs:
            await asyncio.wait(runs, timeout=timeout)
        abandoned = dict(self._in_flight)
        for task in abandoned:
            task.cancel()
        if abandoned:
            await asyncio.gather(*abandoned, return_exceptions=True)
        await self._release(abandoned.values())
        for run in self._runs:
            run.cancel()
        if self._runs:
            await asyncio.gather(*self._runs, return_exceptions=True)

    async def _release(self, claims: Iterable[tuple[int, uuid.UUID]]) -> None:
        by_token: dict[uuid.UUID, list[int]] = {}
        for item_id, token in claims:
            by_token.setdefault(token, []).append(item_id)
        if not by_token:
            return
        released = 0
        for token, item_ids in by_token.items():
            rows = await self._db.fetch("execution_release", item_ids, token)
            released += len(rows)
        logger.info("released unfinished items on shutdown", extra={"released": released})
