"""The send job: POST each due delivery to its endpoint, signed, and record what happened.

Deliveries are claimed in a short transaction (FOR UPDATE SKIP LOCKED, a lease
and a token: service.execution.leases, shared with the poll job), so replicas
share them instead of repeating them. Each send is its own task holding no
database connection, bounded by the timeout (10 s); its result is written in
its own short transaction, guarded by the token. A replica killed mid-send
leaves a lease that runs out, and another replica sends again: at least once,
and receivers dedupe by `webhook-id` (the event id, the same on every attempt).

A hung receiver delays no other: this process runs at most
WEBHOOK_CONCURRENCY sends and claims only as many rows as it has free slots
(nothing waits for a slot while holding a lease); one endpoint gets at most
WEBHOOK_ENDPOINT_CONCURRENCY of those slots; and the job claims again as soon
as any send ends, or within a poll interval, never waiting for slow sends to
finish first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
from collections.abc import Callable, Sequence

import aiohttp
import asyncpg
import orjson
from yarl import URL

from service.db import DATABASE_ERRORS, Database
from service.domain import representations as rep
from service.domain.webhooks import secret_context
from service.execution.leases import Claims, Runs, drain, new_token, scheduled_delay
from service.secretbox import SecretBox, SecretKeyUnavailable
from service.webhooks import addresses, signing

logger = logging.getLogger(__name__)

# What is read of a receiver's answer: enough to keep the connection alive,
# never a whole body a hostile receiver might stream.
_READ_LIMIT = 64 * 1024
_DB_ERRORS = DATABASE_ERRORS


@dataclasses.dataclass(frozen=True, kw_only=True)
class Attempt:
    status: int | None  # the HTTP status, None when no answer came
    error: str | None  # None: delivered

    @property
    def ok(self) -> bool:
        return self.error is None


class WebhookSender:
    def __init__(
        self,
        *,
        db: Database,
        session: aiohttp.ClientSession,
        lease_seconds: float,
        timeout_seconds: float,
        concurrency: int,
        endpoint_concurrency: int,
        schedule: Sequence[float],
        disable_after_seconds: float,
        poll_interval_seconds: float,
        allow_private: bool,
        box: SecretBox,
    ) -> None:
        self._db = db
        self._box = box
        self._session = session
        self._lease_seconds = lease_seconds
        self._timeout = timeout_seconds
        self._concurrency = concurrency
        self._endpoint_concurrency = endpoint_concurrency
        self._schedule = tuple(schedule)
        self._disable_after = disable_after_seconds
        self._poll_interval = poll_interval_seconds
        self._allow_private = allow_private
        self._wake = asyncio.Event()
        self._runs = Runs()
        self._claims = Claims(
            db=db, release_query="webhook_release", what="webhook deliveries", on_done=self._wake.set
        )
        self._running: dict[int, int] = {}  # webhook id -> its sends running here
        self._busy = False
        self._kicked: set[asyncio.Task] = set()
        # Attempts by outcome since start: succeeded, retrying (failed, will be
        # retried), failed (failed for good). For webhook_deliveries_total{outcome}.
        self.outcomes = {"succeeded": 0, "retrying": 0, "failed": 0}
        # Told each outcome too (the metrics' webhook_deliveries_total).
        self.on_outcome: Callable[[str], None] | None = None

    async def run_once(self) -> int:
        """Send what is due until nothing is; return how many sends were started.
        One loop per process: a tick that finds one running only wakes it."""
        if self._busy:
            self._wake.set()
            return 0
        self._busy = True
        try:
            with self._runs.tracked():
                return await self._loop()
        except _DB_ERRORS as exc:
            logger.warning("webhook send tick failed; the next tick retries", extra={"error": str(exc)[:200]})
            return 0
        finally:
            self._busy = False

    def kick(self) -> None:
        """Deliveries were just made here: start on them now, not at the next tick."""
        self._wake.set()
        if not self._busy and not self._runs.stopping:
            task = asyncio.create_task(self.run_once())
            self._kicked.add(task)
            task.add_done_callback(self._kicked.discard)

    async def _loop(self) -> int:
        started = 0
        while not self._runs.stopping:
            self._wake.clear()
            room = self._concurrency - len(self._claims)
            claimed = await self._claim(room) if room > 0 else 0
            started += claimed
            if claimed and claimed == room:
                continue  # more may be due: claim again as soon as a slot frees
            if not claimed and not len(self._claims):
                return started  # nothing due, nothing running
            # Slots are busy or nothing more is due: wait for a send to end,
            # new deliveries, or a poll interval, then claim again.
            if not await self._wait(self._poll_interval) and not claimed:
                return started
        return started

    async def _wait(self, timeout: float) -> bool:
        woken = asyncio.ensure_future(self._wake.wait())
        stopped = asyncio.ensure_future(self._runs.stopped.wait())
        done, pending = await asyncio.wait(
            {woken, stopped}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        return bool(done)

    async def _claim(self, room: int) -> int:
        token = new_token()
        busy = {webhook_id: n for webhook_id, n in self._running.items() if n > 0}
        rows = await self._db.fetch(
            "webhook_claim",
            room,
            self._lease_seconds,
            token,
            self._endpoint_concurrency,
            list(busy),
            list(busy.values()),
        )
        for row in rows:
            self._running[row["webhook_id"]] = self._running.get(row["webhook_id"], 0) + 1
            self._claims.start(self._deliver(row, token), row_id=row["delivery_id"], token=token)
        return len(rows)

    async def _deliver(self, row: asyncpg.Record, token) -> None:
        try:
            attempted_at = datetime.datetime.now(datetime.UTC)
            attempt = await self.send(row)
            await self._record(row, token, attempted_at, attempt)
        except SecretKeyUnavailable as exc:
            # Sealed under a SECRET_KEY this replica lacks (a rotation under way): no
            # attempt is made or counted; when the lease runs out a replica that has it sends.
            logger.warning(
                "a webhook's signing key is sealed under another SECRET_KEY; left to another replica",
                extra={"webhook_id": row["webhook_id"], "secret_key_id": exc.key_id.hex()},
            )
        except _DB_ERRORS as exc:
            # The lease runs out and another claim sends it again.
            logger.warning(
                "could not record a webhook attempt",
                extra={"delivery_id": row["delivery_id"], "error": str(exc)[:200]},
            )
        finally:
            left = self._running.get(row["webhook_id"], 1) - 1
            if left > 0:
                self._running[row["webhook_id"]] = left
            else:
                self._running.pop(row["webhook_id"], None)

    async def send(self, row: asyncpg.Record) -> Attempt:
        """One signed POST of the event, no redirects followed; never raises for the receiver's faults
        (SecretKeyUnavailable: this replica cannot sign it)."""
        body = orjson.dumps(rep.event(row))
        url = URL(row["url"])
        host = url.raw_host or ""
        if not self._allow_private and addresses.literal(host) is not None:
            try:
                addresses.refuse_private(host, [host])
            except addresses.UrlRefused as exc:
                return Attempt(status=None, error=f"url_not_allowed: {exc}")
        key = self._box.open(row["signing_secret"], secret_context(row["webhook_id"], row["reseller_id"]))
        headers = {"Content-Type": "application/json", **signing.headers(key, f"evt_{row['id']}", body)}
        try:
            async with self._session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                status = response.status
                await response.content.read(_READ_LIMIT)
        except aiohttp.ClientConnectorDNSError as exc:
            if isinstance(exc.os_error, addresses.AddressNotAllowed):
                return Attempt(status=None, error=f"url_not_allowed: {exc.os_error}")
            return Attempt(status=None, error=f"host {host} does not resolve")
        except TimeoutError:
            return Attempt(status=None, error=f"no answer within {self._timeout:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            return Attempt(status=None, error=_describe(exc))
        if 200 <= status < 300:
            return Attempt(status=status, error=None)
        if 300 <= status < 400:
            return Attempt(status=status, error=f"HTTP {status}: redirects are not followed")
        return Attempt(status=status, error=f"HTTP {status}")

    async def _record(
        self, row: asyncpg.Record, token, attempted_at: datetime.datetime, attempt: Attempt
    ) -> None:
        delivery_id = row["delivery_id"]
        if attempt.ok:
            written = await self._db.fetchval(
                "webhook_attempt_succeeded", delivery_id, token, attempt.status, attempted_at
            )
            outcome, disabled = "succeeded", False
        else:
            number = row["attempts"] + 1
            delay = None if row["manual_retry"] else scheduled_delay(number, self._schedule)
            result = await self._db.fetchrow(
                "webhook_attempt_failed",
                delivery_id,
                token,
                attempt.status,
                (attempt.error or "")[:500],
                attempted_at,
                "failed" if delay is None else "pending",
                delay,
                self._disable_after,
            )
            written = result and result["webhook_id"]
            outcome = "failed" if delay is None else "retrying"
            disabled = bool(result and result["disabled"])
        if not written:
            logger.warning(
                "webhook lease lost before the attempt was recorded",
                extra={"delivery_id": delivery_id, "webhook_id": row["webhook_id"]},
            )
            return
        self.outcomes[outcome] += 1
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        (logger.debug if attempt.ok else logger.info)(
            "webhook attempt",
            extra={
                "delivery_id": delivery_id,
                "webhook_id": row["webhook_id"],
                "event_id": f"evt_{row['id']}",
                "outcome": outcome,
                "response_status": attempt.status,
                "error": attempt.error,
            },
        )
        if disabled:
            logger.warning(
                "webhook disabled after failing without a break",
                extra={"webhook_id": row["webhook_id"], "after_seconds": self._disable_after},
            )

    async def oldest_pending_age(self) -> float:
        """Seconds since the oldest delivery still pending on an enabled endpoint was made."""
        return await self._db.fetchval("webhook_oldest_pending")

    async def drain(self, timeout: float) -> None:
        """Give sends up to timeout to finish and record; cancel the rest and hand their rows back."""
        await drain(self._runs, self._claims, timeout)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]
