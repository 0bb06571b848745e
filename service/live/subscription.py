"""One open stream: what it wants, where it stands, and the messages waiting for it.

The hub (service.live.hub) offers it every new event of its reseller as the
event is read; the stream's own task writes them to the client. Both run on
the event loop, so nothing here needs a lock: `offer` and `take` never await.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
from collections.abc import Callable

from service.domain.events import Position


@dataclasses.dataclass(eq=False, kw_only=True)
class Subscription:
    reseller_id: int
    client_id: str
    token: str
    order_id: int | None
    event_type: str | None
    # The position of the last event sent, or where the stream started.
    last: Position
    queue_limit: int
    deadline: float  # time.monotonic() when the stream ends so the client reconnects
    is_gone: Callable[[], bool] = lambda: False  # the client's connection has closed
    abort: Callable[[], None] = lambda: None  # close the connection without flushing it

    # Reading its backlog from the database: the events the hub offers
    # meanwhile wait here, and when too many arrive they are dropped and the
    # backlog is read again instead (they are in the database too).
    catching_up: bool = True
    overflowed: bool = False
    ended: str | None = None  # why the stream ends, once it must
    ended_at: float | None = None  # time.monotonic() when it was told to end
    _pending: collections.deque = dataclasses.field(default_factory=collections.deque)
    _wake: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def wants(self, order_id: int, event_type: str) -> bool:
        return (self.order_id is None or self.order_id == order_id) and (
            self.event_type is None or self.event_type == event_type
        )

    def offer(self, position: Position, message: bytes) -> None:
        """A new event of the reseller that passes the filters, in feed order."""
        if self.ended or position <= self.last:
            # Sent already (by the backlog read, which may run ahead of the hub): queueing
            # it would only fill the queue of a stream that is up to date.
            return
        if len(self._pending) >= self.queue_limit:
            if self.catching_up:
                self.overflowed = True
                self._pending.clear()
                return
            # The client reads slower than events come: drop it rather than
            # buffer without bound. It resumes with Last-Event-ID, losing nothing.
            self.end("the client fell too far behind")
            self.abort()
            return
        self._pending.append((position, message))
        self._wake.set()

    def end(self, reason: str) -> None:
        if self.ended is None:
            self.ended = reason
            self.ended_at = time.monotonic()
        self._wake.set()

    async def wait(self) -> None:
        await self._wake.wait()
        self._wake.clear()

    def sent(self, position: Position) -> None:
        self.last = max(self.last, position)

    def take(self) -> bytes:
        """Every waiting message after the last one sent, as one chunk to write."""
        chunks = []
        while self._pending:
            position, message = self._pending.popleft()
            if position > self.last:  # the backlog read may have sent it already
                chunks.append(message)
                self.last = position
        return b"".join(chunks)
