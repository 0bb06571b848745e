"""Rate limits of the contract's Rate limits section, kept in process memory.

`RateLimiter`: a token bucket per credential (clientId) for requests under
/api: it holds up to RATE_LIMIT_PER_MINUTE tokens, refills at that many per
minute, and each request takes one. A dict lookup and some arithmetic per
request, no database; a bucket idle long enough to be full again is the same
as no bucket, so a sweep once a minute drops those and memory stays
proportional to the credentials active in the last minute.

`TokenBrake`: failed POST /oauth/token attempts per clientId over a sliding
minute; from the 10th on (TOKEN_BRAKE_FAILURES in service.limits), every
attempt for that clientId is refused with 429 `slow_down` until the oldest of
those failures is a minute old. An attempt counts as a failure from the moment
it is let through (`attempt`) until it proves right (`settle`): guesses sent in parallel, all waiting on the database
at once, meet the brake like guesses sent one after another. ClientIds an
attacker makes up are counted too (answering differently for unknown ones
would tell which exist), so the table is bounded: past MAX_CLIENTS entries the
oldest are dropped. The operator API uses one too, per client address, for
wrong ADMIN_TOKENs.

Both count per process. With N processes (replicas, or WORKERS) a client whose
requests are spread over all of them can get up to N times the limit, and
make up to N times 10 failed attempts a minute; docs/how-to/operate.md says more.
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable
from typing import NamedTuple

from service.limits import TOKEN_BRAKE_FAILURES

SWEEP_SECONDS = 60.0


class Verdict(NamedTuple):  # a tuple: made on every request, three times cheaper than a frozen dataclass
    allowed: bool
    remaining: int  # whole requests left now
    reset: int  # seconds until the bucket is full again
    retry_after: int  # when refused: seconds until one request is allowed

    @property
    def header(self) -> str:
        """The RateLimit header's value (RateLimit-Policy is the limiter's `policy`)."""
        return f'"default";r={self.remaining};t={self.reset}'


class RateLimiter:
    def __init__(self, *, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1; use no limiter to turn limits off")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.policy = f'"default";q={per_minute};w=60'
        self._clock = clock
        self._buckets: dict[str, list[float]] = {}  # key -> [tokens, when last updated]
        self._next_sweep = clock() + SWEEP_SECONDS

    def take(self, key: str) -> Verdict:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            tokens = self.capacity
            bucket = self._buckets[key] = [tokens, now]
        else:
            tokens = min(self.capacity, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
        if tokens >= 1.0:
            tokens -= 1.0
            bucket[0] = tokens
            return Verdict(True, int(tokens), math.ceil((self.capacity - tokens) / self.rate), 0)
        bucket[0] = tokens
        return Verdict(
            False,
            0,
            math.ceil((self.capacity - tokens) / self.rate),
            max(1, math.ceil((1.0 - tokens) / self.rate)),
        )

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + SWEEP_SECONDS
        full = [
            key
            for key, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self.rate >= self.capacity
        ]
        for key in full:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


class TokenBrake:
    def __init__(
        self,
        *,
        attempts: int = TOKEN_BRAKE_FAILURES,
        window: float = 60.0,
        max_clients: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts = attempts
        self.window = window
        self.max_clients = max_clients
        self._clock = clock
        # clientId -> times of its latest failures (at most `attempts`), oldest first
        self._failures: dict[str, collections.deque[float]] = {}

    def attempt(self, key: str) -> int | None:
        """Let an attempt through, counted as a failure until `settle` says otherwise;
        or, while braked, the seconds until attempts are heard again (nothing counted)."""
        now = self._clock()
        failures = self._failures.get(key)
        if failures is not None and len(failures) >= self.attempts:
            wait = failures[0] + self.window - now
            if wait > 0:
                return math.ceil(wait)
        # Re-inserted at the end: the table's order is that of the latest failure.
        failures = self._failures.pop(key, None)
        if failures is None:
            if len(self._failures) >= self.max_clients:
                self._make_room(now)
            failures = collections.deque(maxlen=self.attempts)
        failures.append(now)
        self._failures[key] = failures
        return None

    def settle(self, key: str, *, failed: bool) -> None:
        """The attempt let through has its answer: a right one is no failure."""
        if failed:
            return
        failures = self._failures.get(key)
        if failures:
            failures.pop()  # the latest: newer than its own by at most a request's time
            if not failures:
                del self._failures[key]

    def _make_room(self, now: float) -> None:
        stale = [key for key, times in self._failures.items() if times[-1] + self.window <= now]
        for key in stale:
            del self._failures[key]
        # Still full: a flood of made-up ids; forget those that failed longest ago.
        while len(self._failures) >= self.max_clients:
            del self._failures[next(iter(self._failures))]

    def __len__(self) -> int:
        return len(self._failures)
