"""Every bound a client can meet, in one place: what it bounds, how far, the
setting that moves it, and what the client gets past it.

The fixed bounds are the constants below, which the code that enforces them
imports; the bounds an operator may move are fields of `Settings`
(service.settings) and are named here by their environment variable. `TABLE`
lists them all for the documentation (its limits table is rendered from it, and
a unit test checks that every `setting` is one the service reads).

One tenant never holds back another (the contract's v3.2 section): a reseller's
requests hold at most `pool_share()` of each process's database connections,
wait at most DB_ACQUIRE_TIMEOUT_SECONDS for one and LOCK_TIMEOUT_SECONDS for a
row another transaction holds, and everything a reseller can make grow
(webhooks, streams, stored answers, error lists) has a bound.
"""

from __future__ import annotations

import dataclasses

from service.settings import Settings

# Request bodies (aiohttp's client_max_size): 413 payload_too_large beyond.
MAX_BODY_BYTES = 1024 * 1024
# List pages: ?pageSize=1..200, 50 when absent.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# Idempotency-Key: 1..255 printable ASCII characters.
MAX_IDEMPOTENCY_KEY_LENGTH = 255
# A webhook's url.
MAX_URL_LENGTH = 2048
# The reason of POST /api/orders/{id}/cancel.
MAX_REASON_LENGTH = 500
# Entries of a problem's `errors`; `detail` says how many more there were.
MAX_ERRORS = 50
# The longest field name and message one entry of `errors` repeats (an unknown
# key of a 1 MiB body would otherwise come back whole).
MAX_ERROR_FIELD_LENGTH = 200
MAX_ERROR_MESSAGE_LENGTH = 500
# The body of an answer stored for an Idempotency-Key. Every answer the API
# gives to a POST is far smaller (a 422 is bounded by the two lines above); a
# larger one is still sent in full, and its key keeps status and headers only
# (docs/how-to/safe-retries.md).
MAX_STORED_ANSWER_BYTES = 64 * 1024
# Failed POST /oauth/token attempts per clientId in a sliding minute
# (service.http.ratelimit.TokenBrake).
TOKEN_BRAKE_FAILURES = 10
# How long one statement may run (PostgreSQL's statement_timeout on the pool).
STATEMENT_TIMEOUT_SECONDS = 30.0


def pool_share(pool_size: int) -> int:
    """How many of a process's pooled connections one reseller's requests may hold
    at once: half, so another reseller always finds the other half (a pool of one
    cannot be shared: its reseller may hold it)."""
    return max(1, pool_size // 2)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Limit:
    """One row of the limits table: plain text, for people."""

    name: str  # what is bounded
    bound: str  # the default bound
    setting: str | None  # the environment variable that changes it, or None
    answer: str  # what the client gets when over it


_S = Settings
TABLE: tuple[Limit, ...] = (
    Limit(
        name="Request body",
        bound=f"{MAX_BODY_BYTES // (1024 * 1024)} MiB",
        setting=None,
        answer="413 `payload_too_large`",
    ),
    Limit(
        name="Page size of a list (`pageSize`)",
        bound=f"{MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})",
        setting=None,
        answer="422 `validation_error` naming `pageSize`",
    ),
    Limit(
        name="`Idempotency-Key` length",
        bound=f"1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters",
        setting=None,
        answer="400 `invalid_idempotency_key`",
    ),
    Limit(
        name="How long a stored answer is replayed",
        bound=f"{_S.idempotency_ttl_seconds} s (a day)",
        setting="IDEMPOTENCY_TTL_SECONDS",
        answer="the key is free again: a repeat runs as a new request",
    ),
    Limit(
        name="Stored answer of a keyed request",
        bound=f"{MAX_STORED_ANSWER_BYTES // 1024} KiB of body",
        setting=None,
        answer="the first answer is sent whole; a repeat replays its status and headers with an "
        "empty body (the request is still applied once)",
    ),
    Limit(
        name="Webhook `url` length",
        bound=f"{MAX_URL_LENGTH} characters",
        setting=None,
        answer="422 `validation_error` naming `url`",
    ),
    Limit(
        name="Cancellation `reason` length",
        bound=f"{MAX_REASON_LENGTH} characters",
        setting=None,
        answer="422 `validation_error` naming `reason`",
    ),
    Limit(
        name="Entries of `errors` in a 422",
        bound=f"{MAX_ERRORS} (field names cut to {MAX_ERROR_FIELD_LENGTH} characters)",
        setting=None,
        answer="the first 50 are listed; `detail` says how many more there were",
    ),
    Limit(
        name="Requests per credential",
        bound=f"{_S.rate_limit_per_minute} a minute, bursts of as many (per process)",
        setting="RATE_LIMIT_PER_MINUTE",
        answer="429 `rate_limited` with `Retry-After`",
    ),
    Limit(
        name="Failed token requests per `clientId`",
        bound=f"{TOKEN_BRAKE_FAILURES} a minute (per process)",
        setting=None,
        answer='429 `{"error": "slow_down"}` with `Retry-After`, for a right secret too',
    ),
    Limit(
        name="Failed operator authentications per client address",
        bound=f"{_S.admin_failed_auth_per_minute} a minute (per process)",
        setting="ADMIN_FAILED_AUTH_PER_MINUTE",
        answer="429 `too_many_failed_attempts` with `Retry-After`, for a right token too",
    ),
    Limit(
        name="Open event streams per credential",
        bound=f"{_S.sse_max_streams_per_credential} per process",
        setting="SSE_MAX_STREAMS_PER_CREDENTIAL",
        answer="429 `too_many_streams` with `Retry-After`",
    ),
    Limit(
        name="Open event streams per reseller",
        bound=f"{_S.sse_max_streams_per_reseller} per process",
        setting="SSE_MAX_STREAMS_PER_RESELLER",
        answer="429 `too_many_streams` with `Retry-After`",
    ),
    Limit(
        name="Events waiting for a slow stream reader",
        bound=f"{_S.sse_queue_size}",
        setting="SSE_QUEUE_SIZE",
        answer="the stream is closed; resume with `Last-Event-ID`, nothing is lost",
    ),
    Limit(
        name="Lifetime of an event stream",
        bound=f"{_S.sse_max_stream_seconds:g} s",
        setting="SSE_MAX_STREAM_SECONDS",
        answer="the stream ends; resume with `Last-Event-ID`, nothing is lost",
    ),
    Limit(
        name="Webhooks per reseller",
        bound=f"{_S.webhooks_per_reseller}",
        setting="WEBHOOKS_PER_RESELLER",
        answer="409 `webhook_limit_reached`",
    ),
    Limit(
        name="Database connections one reseller's requests hold",
        bound=f"half of the process's pool ({pool_share(_S.db_pool_max_size)} of {_S.db_pool_max_size})",
        setting="DB_POOL_MAX_SIZE",
        answer="further requests of that reseller wait for its share, then 503 `database_busy` "
        "with `Retry-After`",
    ),
    Limit(
        name="Wait for a database connection",
        bound=f"{_S.db_acquire_timeout_seconds:g} s",
        setting="DB_ACQUIRE_TIMEOUT_SECONDS",
        answer="503 `database_busy` with `Retry-After`; nothing was done",
    ),
    Limit(
        name="Wait for a row another change holds",
        bound=f"{_S.lock_timeout_seconds:g} s",
        setting="LOCK_TIMEOUT_SECONDS",
        answer="409 `order_busy` with `Retry-After: 1`; nothing changed and a keyed request's key is free",
    ),
    Limit(
        name="Time to send the request headers",
        bound=f"{_S.header_timeout_seconds:g} s",
        setting="HEADER_TIMEOUT_SECONDS",
        answer="408 `request_timeout`, connection closed",
    ),
    Limit(
        name="Time to send the request body",
        bound=f"{_S.body_timeout_seconds:g} s",
        setting="BODY_TIMEOUT_SECONDS",
        answer="408 `request_timeout`, connection closed",
    ),
    Limit(
        name="Time one database statement may run",
        bound=f"{STATEMENT_TIMEOUT_SECONDS:g} s",
        setting=None,
        answer="503 `database_unavailable` with `Retry-After`",
    ),
)
