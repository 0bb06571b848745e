"""The poll job: move every executing item one step forward per tick.

A tick claims due items in a short transaction (FOR UPDATE SKIP LOCKED, a
lease and a token), gives the connection back, makes at most one outbound
call per item with no connection held, then writes each result in its own
short transaction guarded by the token. Replicas running ticks at the same
time share the work instead of repeating it; a replica killed mid-call leaves
rows whose lease runs out, and the next claimer repeats the step, which the
connector's idempotency key makes harmless. The bookkeeping around the
claims (ticks, rows held, release on shutdown, backoff) is shared with the
webhook sender: service.execution.leases.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Iterable

import aiohttp
import asyncpg

from service.db import DATABASE_ERRORS, Database
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
from service.execution.leases import Claims, Runs, backoff, drain, new_token

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
        self._runs = Runs()
        self.failures = 0  # ticks that failed (and were logged); read by the metrics
        # Items whose step is running, for handing them back on shutdown.
        self._claims = Claims(db=db, release_query="execution_release", what="items")

    async def run_once(self) -> int:
        """One tick; returns how many items were stepped. Never raises for a bad connector or database."""
        with self._runs.tracked():
            try:
                return await self._tick()
            except DATABASE_ERRORS as exc:
                self.failures += 1
                logger.warning("poll tick failed; the next tick retries", extra={"error": str(exc)[:200]})
                return 0

    async def _tick(self) -> int:
        handled: list[int] = []
        semaphore = asyncio.Semaphore(self._concurrency)
        for _ in range(self._max_rounds):
            if self._runs.stopping:
                break
            token = new_token()
            claims = await self._db.fetch(
                "execution_claim", self._concurrency, self._lease_seconds, token, handled
            )
            if not claims:
                break
            handled.extend(c["item_id"] for c in claims)
            await self._refresh_orders({c["order_id"] for c in claims})
            tasks = [
                self._claims.start(self._step(claim, token, semaphore), row_id=claim["item_id"], token=token)
                for claim in claims
            ]
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for item_id, result in zip((c["item_id"] for c in claims), results, strict=True):
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
            action=claim["action"],
            subscription_id=claim["subscription_ref"],
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
            query, args = "execution_finished", (outcome.status, outcome.message)
        async with self._db.transaction():
            await self._db.fetchval("execution_order_lock", order_id)
            written = await self._db.fetchval(query, item_id, token, *args)
            if written is None:
                logger.warning(
                    "lease lost before the result was written; another worker owns the item",
                    extra={"item_id": item_id, "order_id": order_id},
                )
                return
            if query == "execution_finished":
                # The subscription the item creates or changes, in the same transaction.
                await self._db.fetchrow("subscription_apply", item_id, outcome.status, outcome.subscription_id)
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
        delay = backoff(claim["attempts"], base=self._retry_base, cap=self._retry_max, rng=self._rng)
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
        self._runs.stop()

    async def drain(self, timeout: float) -> None:
        """Wait up to timeout for running ticks, then cancel what is left and hand its items back."""
        await drain(self._runs, self._claims, timeout)
