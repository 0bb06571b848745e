"""The hub: one reader of the whole feed per process, fanning events out to the
process's open streams.

A notification (service.live.listener) wakes it; it then reads every new
event once, for all resellers, in feed order from its own position, and
offers each to the streams of that event's reseller. An event can be held
back by an older transaction still running (the feed's rule, see
service.domain.events); that transaction may end without writing an event,
so without a notification: while events wait, the hub reads again shortly,
and a slow timer reads anyway, in case a notification was lost (the listener
reconnecting, for instance).

A new stream joins without a gap or a duplicate: it subscribes first, so the
hub offers it every event it reads from then on, and only then reads its
backlog (the events after its cursor) with the reseller's feed query. The
hub's position at that moment came from a read whose snapshot was taken
earlier, and the backlog read's snapshot is taken later, so its horizon is at
least as far: everything up to the hub's position is in the backlog, every
read the hub finishes afterwards is offered (one already running included),
and what is in both is dropped when the queue is written (`Subscription.take`).
The one move that offers nothing, jumping to the head while nobody listens,
is therefore never applied once a stream has subscribed."""

from __future__ import annotations

import asyncio
import collections
import logging
import time

from aiohttp import web

from service.auth import READ, CredentialCache, TokenSigner
from service.db import Database
from service.domain.events import START, Position
from service.errors import ServiceError, TooManyStreams, Unauthorized
from service.live import sse, stream
from service.live.stream import BATCH, DATABASE_ERRORS
from service.live.subscription import Subscription
from service.tokens import ExpiredToken, UnknownSigningKey

logger = logging.getLogger(__name__)

COALESCE_SECONDS = 0.01  # notifications within this share one read
# While an event is held back, read again this soon, then a little less often:
# the horizon is cluster-wide, so any writing transaction (autovacuum's ANALYZE
# of another database too) can hold it for a moment.
HELD_BACK_FIRST_RETRY_SECONDS = 0.02
HELD_BACK_MAX_RETRY_SECONDS = 0.2
SWEEP_SECONDS = 1.0


class Hub:
    def __init__(
        self,
        *,
        db: Database,
        signer: TokenSigner,
        credentials: CredentialCache,
        max_per_credential: int,
        max_per_reseller: int,
        queue_limit: int,
        fallback_seconds: float,
        max_stream_seconds: float,
        keepalive_seconds: float,
        retry_after_seconds: int,
    ) -> None:
        self._db = db
        self._signer = signer
        self._credentials = credentials
        self._max_per_credential = max_per_credential
        self._max_per_reseller = max_per_reseller
        self._queue_limit = queue_limit
        self._fallback_seconds = fallback_seconds
        self._max_stream_seconds = max_stream_seconds
        self._keepalive = keepalive_seconds
        self._retry_after = retry_after_seconds
        self.position: Position = START
        # Whether the position has been read from the database: a hub that started
        # while it was down stands at START, and must not read the whole table.
        self._positioned = False
        self._by_reseller: dict[int, set[Subscription]] = collections.defaultdict(set)
        self._per_client: collections.Counter[str] = collections.Counter()
        self._wake = asyncio.Event()
        self.reads = 0  # for tests: how many times the hub read the feed

    @property
    def subscriptions(self) -> list[Subscription]:
        return [sub for subs in self._by_reseller.values() for sub in subs]

    def wake(self) -> None:
        self._wake.set()

    def subscribe(
        self,
        *,
        reseller_id: int,
        client_id: str,
        token: str,
        after: Position,
        order_id: int | None,
        event_type: str | None,
    ) -> Subscription:
        """Register a stream that sends the events after `after`."""
        if self._per_client[client_id] >= self._max_per_credential:
            raise TooManyStreams(
                f"This credential already has {self._max_per_credential} open event streams "
                "on this server; close one first",
                headers={"Retry-After": str(self._retry_after)},
            )
        if len(self._by_reseller.get(reseller_id, ())) >= self._max_per_reseller:
            raise TooManyStreams(
                f"This reseller already has {self._max_per_reseller} open event streams on this server; "
                "close one first",
                headers={"Retry-After": str(self._retry_after)},
            )
        sub = Subscription(
            reseller_id=reseller_id,
            client_id=client_id,
            token=token,
            order_id=order_id,
            event_type=event_type,
            last=after,
            queue_limit=self._queue_limit,
            deadline=time.monotonic() + self._max_stream_seconds,
        )
        self._by_reseller[reseller_id].add(sub)
        self._per_client[client_id] += 1
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._by_reseller.get(sub.reseller_id)
        if subs is None or sub not in subs:
            return
        subs.discard(sub)
        if not subs:
            del self._by_reseller[sub.reseller_id]
        self._per_client[sub.client_id] -= 1
        if self._per_client[sub.client_id] <= 0:
            del self._per_client[sub.client_id]

    async def pump(self, sub: Subscription, response: web.StreamResponse, *, resumed: bool) -> str:
        """Write a subscribed stream until it ends (service.live.stream); why it ended."""
        return await stream.pump(sub, response, db=self._db, keepalive=self._keepalive, resumed=resumed)

    def end_all(self, reason: str) -> None:
        for sub in self.subscriptions:
            sub.end(reason)

    async def start(self) -> None:
        try:
            await self._jump_to_head()
        except DATABASE_ERRORS as exc:
            # Not migrated yet, or unreachable: the first read in run() catches up.
            logger.warning("live events: cannot read the feed yet", extra={"error": str(exc)[:200]})

    async def now(self) -> Position:
        """Where a stream without a cursor starts: after every event readable now."""
        head = await self._db.fetchrow("live_head")
        return self.position if head is None else max(self.position, sse.position_of(head))

    async def run(self) -> None:
        """Read whenever woken, or after a while anyway; forever (cancelled on shutdown)."""
        delay = self._fallback_seconds
        held = 0.0  # the current retry delay while events are held back
        while True:
            try:
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            except TimeoutError:
                pass
            # Cleared before reading: a notification during the read wakes the next one.
            self._wake.clear()
            try:
                waiting = await self._advance()
            except DATABASE_ERRORS as exc:
                logger.warning("live events: cannot read the feed", extra={"error": str(exc)[:200]})
                delay = self._fallback_seconds
                continue
            except Exception:
                # A bug must not end live events for the process's lifetime.
                logger.exception("live events: reading the feed failed")
                delay = self._fallback_seconds
                continue
            if waiting:
                held = min(held * 2, HELD_BACK_MAX_RETRY_SECONDS) if held else HELD_BACK_FIRST_RETRY_SECONDS
                delay = min(held, self._fallback_seconds)
            else:
                held, delay = 0.0, self._fallback_seconds
            await asyncio.sleep(COALESCE_SECONDS)

    async def _jump_to_head(self) -> None:
        head = await self._db.fetchrow("live_head")
        # Only while still nobody listens: a stream that subscribed during the query
        # may be owed events the jump would pass over without offering them (the
        # query's snapshot can be later than the stream's own backlog read).
        if not self._by_reseller:
            if head is not None:
                self.position = max(self.position, sse.position_of(head))
            self._positioned = True

    async def _advance(self) -> bool:
        """Read and offer everything readable; whether events are still held back."""
        self.reads += 1
        if not self._by_reseller:
            # Nobody listens: stand at the head without reading the events.
            await self._jump_to_head()
            return False
        if not self._positioned:
            # Streams opened before the hub ever read the head (it started while the
            # database was down): what none of them wants need not be read. Each
            # stream's backlog covers up to its own position, so starting from the
            # earliest of them passes over nothing a stream is owed.
            self.position = max(self.position, min(sub.last for sub in self.subscriptions))
            self._positioned = True
        while True:
            xid, event_id = self.position
            rows = await self._db.fetch("live_events_after", str(xid), event_id, BATCH)
            self._offer(rows)
            if len(rows) < BATCH:
                break
        xid, event_id = self.position
        return await self._db.fetchval("live_events_waiting", str(xid), event_id)

    def _offer(self, rows: list) -> None:
        for row in rows:
            position = sse.position_of(row)
            subs = self._by_reseller.get(row["reseller_id"])
            if subs:
                message = None
                for sub in list(subs):
                    if sub.wants(row["order_id"], row["type"]):
                        message = message or sse.message(row)
                        sub.offer(position, message)
            self.position = position

    async def sweep(self) -> None:
        """End streams whose client left, whose token expired or lost its signing key, or whose
        credential was revoked (within the contract's 5 s), and those past their lifetime; forever."""
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self._sweep_once()
            except Exception:
                logger.exception("live events: checking the open streams failed")

    async def _sweep_once(self) -> None:
        now = time.monotonic()
        allowed: dict[str, bool] = {}  # per credential, asked once a sweep
        for sub in self.subscriptions:
            if sub.ended:
                if sub.ended_at is not None and now - sub.ended_at >= SWEEP_SECONDS:
                    # Ended a sweep ago and still open: its writer is stuck writing to a
                    # client that reads nothing, and would never see the end. Close it.
                    sub.abort()
                continue
            if sub.is_gone():
                sub.end("the client closed the connection")
            elif now >= sub.deadline:
                sub.end("the stream reached its lifetime; reconnect with Last-Event-ID")
            elif (refusal := self._token_refusal(sub.token)) is not None:
                sub.end(refusal)
            else:
                if sub.client_id not in allowed:
                    allowed[sub.client_id] = await self._still_allowed(sub)
                if not allowed[sub.client_id]:
                    sub.end("the credential was revoked or lost the scope orders:read")

    def _token_refusal(self, token: str) -> str | None:
        """Why the stream's token no longer verifies (None while it does)."""
        try:
            self._signer.verify(token)
        except UnknownSigningKey:
            return "the access token is no longer valid: its signing key was deleted"
        except ExpiredToken:
            return "the access token expired"
        except Unauthorized:
            return "the access token is no longer valid"
        return None

    async def _still_allowed(self, sub: Subscription) -> bool:
        try:
            principal = await self._credentials.get(sub.client_id)
        except (*DATABASE_ERRORS, ServiceError):
            return True  # cannot tell now; the next sweep asks again
        return principal is not None and principal.reseller_id == sub.reseller_id and READ in principal.scopes
