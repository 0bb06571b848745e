"""Settings read from the environment once, validated at start.

Each setting is declared once, as one field of `Settings`:

    port: int = setting("PORT", 8080, Int(1, 65535), "the port it listens on")

that is its field name and type, the environment variable, the default, the kind
of value with its bounds (which parses and validates it), and one sentence for
the configuration reference (docs/reference/configuration.md is rendered from
these declarations; docs/hooks.py). `Settings.from_env` reads every declared
field; a bad value raises SettingsError with one line naming the variable, and
the command line prints it and exits with code 2.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import importlib.util
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# How long a stored answer may be kept at most: 30 days of keys is already a large table.
MAX_IDEMPOTENCY_TTL = 30 * 86400
# The operator token guards every tenant: long enough that guessing it is hopeless.
MIN_ADMIN_TOKEN_LENGTH = 16


class SettingsError(ValueError):
    """A setting has a value the service cannot run with."""


# SECRET_KEY and OLD_SECRET_KEY (service.secretbox seals with them). Parsed here,
# at the bottom of the house, so that reading settings needs no cryptography.
SECRET_KEY_BYTES = 32
GENERATE_KEY = "python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'"


class SecretKeyError(SettingsError):
    """A SECRET_KEY value that is not 32 bytes of base64."""


def parse_key(text: str, *, name: str = "SECRET_KEY") -> bytes:
    """32 bytes from base64 (standard or URL-safe alphabet). The message never shows the value."""
    raw = text.strip()
    try:
        key = base64.b64decode(raw.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise SecretKeyError(
            f"{name} must be {SECRET_KEY_BYTES} random bytes in base64 (generate one with: {GENERATE_KEY})"
        ) from None
    if len(key) != SECRET_KEY_BYTES:
        raise SecretKeyError(f"{name} must be {SECRET_KEY_BYTES} bytes in base64, got {len(key)} bytes")
    return key


# The kinds of value: each parses the raw text of one variable (None when it is
# not set) and says, for the reference, what it accepts.


@dataclasses.dataclass(frozen=True)
class Text:
    """Any text; empty or blank means the default."""

    def parse(self, name: str, raw: str | None, default: Any) -> Any:
        return (raw or "").strip() or default

    def bounds(self) -> str:
        return "any text"


@dataclasses.dataclass(frozen=True)
class Secret:
    """Any text of at least `min_length` characters, used as given; empty means unset.
    Never shown by the service (not in its errors, not in the repr of Settings)."""

    min_length: int = 0
    hidden = True

    def parse(self, name: str, raw: str | None, default: Any) -> Any:
        if raw and len(raw) < self.min_length:
            raise SettingsError(f"{name} must be at least {self.min_length} characters, got {len(raw)}")
        return raw or default

    def bounds(self) -> str:
        return f"at least {self.min_length} characters" if self.min_length else "any string"


@dataclasses.dataclass(frozen=True)
class SecretKey:
    """32 random bytes in base64; empty means unset. `required_with` names a field
    that, when set, makes this one required (checked once every field is read)."""

    required_with: str | None = None
    hidden = True

    def parse(self, name: str, raw: str | None, default: Any) -> Any:
        raw = (raw or "").strip()
        return parse_key(raw, name=name) if raw else default

    def bounds(self) -> str:
        text = f"{SECRET_KEY_BYTES} random bytes in base64"
        if self.required_with:
            text += f"; required with `{env_name(self.required_with)}`"
        return text


@dataclasses.dataclass(frozen=True)
class Directory:
    """A path; empty means the default."""

    def parse(self, name: str, raw: str | None, default: Any) -> Any:
        raw = (raw or "").strip()
        return Path(raw) if raw else default

    def bounds(self) -> str:
        return "a directory"


@dataclasses.dataclass(frozen=True)
class Int:
    low: int
    high: int

    def parse(self, name: str, raw: str | None, default: Any) -> Any:
        raw = (raw or "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
        if not self.low <= value <= self.high:
            raise SettingsError(f"{name} must be between {self.low} and {self.high}, got {value}")
        return value

    def bounds(self) -> str:
        return f"{self.low}–{self.high}"


@dataclasses.dataclass(frozen=True)
class Seconds:
    """A number of seconds, fractions allowed. `at_least_twice` names another
    field this one must be at least twice (checked once every field is read)."""

    low: float = 0.05
    high: float = 86400.0
    at_least_twice: str | None = None

    def parse(self, name: str, raw: str | None, default: Any) -> Any:
        raw = (raw or "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
        if not self.low <= value <= self.high:
            raise SettingsError(f"{name} must be between {self.low:g} and {self.high:g} seconds, got {raw}")
        return value

    def bounds(self) -> str:
        text = f"{self.low:g}–{self.high:g}"
        if self.at_least_twice:
            text += f", ≥ 2 × `{env_name(self.at_least_twice)}`"
        return text


@dataclasses.dataclass(frozen=True)
class Flag:
    def parse(self, name: str, raw: str | None, default: Any) -> Any:
        raw = (raw or "").strip().lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name} must be true or false, got {raw!r}")

    def bounds(self) -> str:
        return "true, false"


@dataclasses.dataclass(frozen=True)
class Choice:
    """One of `choices`, matched case-insensitively; kept upper-case, or lower-case with `lower`."""

    choices: tuple[str, ...]
    lower: bool = False

    def parse(self, name: str, raw: str | None, default: Any) -> Any:
        value = (raw or "").strip().upper() or str(default).upper()
        if value not in self.choices:
            raise SettingsError(f"{name} must be one of {', '.join(self.choices)}, got {value!r}")
        return value.lower() if self.lower else value

    def bounds(self) -> str:
        return ", ".join(c.lower() if self.lower else c for c in self.choices)


@dataclasses.dataclass(frozen=True)
class EventLoop(Choice):
    """A Choice of event loop that also checks the chosen one is installed."""

    choices: tuple[str, ...] = ("ASYNCIO", "UVLOOP")
    lower: bool = True

    def parse(self, name: str, raw: str | None, default: Any) -> Any:
        loop = super().parse(name, raw, default)
        if loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
            raise SettingsError(
                f"{name}=uvloop needs uvloop installed: pip install 'reseller-ordering-api[uvloop]'"
            )
        return loop


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Comma-separated seconds: 1 to 20 delays, each 0.05 to 86400."""

    def parse(self, name: str, raw: str | None, default: Any) -> Any:
        raw = (raw or "").strip()
        if not raw:
            return default
        try:
            delays = tuple(float(part) for part in raw.split(","))
        except ValueError:
            raise SettingsError(f"{name} must be seconds separated by commas, got {raw!r}") from None
        if not 1 <= len(delays) <= 20 or not all(0.05 <= delay <= 86400 for delay in delays):
            raise SettingsError(
                f"{name} must hold 1 to 20 delays, each between 0.05 and 86400 seconds, got {raw!r}"
            )
        return delays

    def bounds(self) -> str:
        return "1–20 delays in seconds, comma-separated, each 0.05–86400"


@dataclasses.dataclass(frozen=True)
class DatabaseUrl:
    def parse(self, name: str, raw: str | None, default: Any) -> Any:
        raw = (raw or "").strip()
        if not raw:
            return default
        # Never echo the value: it may hold a password.
        parts = urlsplit(raw)
        if parts.scheme not in ("postgresql", "postgres"):
            raise SettingsError(
                f"{name} must be a URL like postgresql://user:password@host:5432/dbname "
                f"(its scheme is {parts.scheme or 'missing'!r})"
            )
        try:
            _ = parts.port  # urlsplit parses the port only when asked
        except ValueError:
            raise SettingsError(
                f"{name} has a port that is not a number; percent-encode special characters "
                "of the user or password (/ as %2F, @ as %40, # as %23, : as %3A)"
            ) from None
        return raw

    def bounds(self) -> str:
        return "a `postgresql://` URL"


Kind = Text | Secret | SecretKey | Directory | Int | Seconds | Flag | Choice | Schedule | DatabaseUrl


def setting(env: str, default: Any, kind: Kind, description: str) -> Any:
    """Declare one setting: the dataclass field's default, and what from_env and the
    reference need to know about it (kept in the field's metadata). A secret's value
    stays out of the repr of Settings, so a logged Settings shows none."""
    return dataclasses.field(
        default=default,
        repr=not getattr(kind, "hidden", False),
        metadata={"env": env, "kind": kind, "description": description},
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    # One declaration a setting: variable, default, kind with its bounds, then its sentence.
    # fmt: off
    # Where it runs.
    database_url: str | None = setting(
        "DATABASE_URL", None, DatabaseUrl(),
        "PostgreSQL to use (`postgresql://user:pass@host:5432/db`, special characters of the password "
        "percent-encoded, `?sslmode=` as libpq); unset, an embedded PostgreSQL 18 under `DATA_DIR`, "
        "stopped with the service.",
    )
    data_dir: Path = setting(
        "DATA_DIR", Path(".data"), Directory(),
        "Where the embedded PostgreSQL keeps its data (`DATA_DIR/pg`) when `DATABASE_URL` is unset.",
    )
    host: str = setting("HOST", "0.0.0.0", Text(), "The address the API listens on.")
    port: int = setting("PORT", 8080, Int(1, 65535), "The port the API listens on.")
    admin_token: str | None = setting(
        "ADMIN_TOKEN", None, Secret(min_length=MIN_ADMIN_TOKEN_LENGTH),
        "Bearer token of the operator API `/admin/*`; unset, that API answers 404 (the log says so at start).",
    )
    admin_failed_auth_per_minute: int = setting(
        "ADMIN_FAILED_AUTH_PER_MINUTE", 10, Int(1, 100_000),
        "Wrong operator tokens one client address may send a minute, per process; past them `/admin/*` "
        "answers it 429 `too_many_failed_attempts`, a right token too.",
    )
    secret_key: bytes | None = setting(
        "SECRET_KEY", None, SecretKey(required_with="database_url"),
        "Seals every private signing key, webhook secret and stored answer holding a secret (AES-GCM); "
        "unset with the embedded default, one is generated into `DATA_DIR/secret_key` (back it up).",
    )
    old_secret_key: bytes | None = setting(
        "OLD_SECRET_KEY", None, SecretKey(),
        "During a rotation, the key `SECRET_KEY` replaces: it still opens what it sealed, until "
        "`python -m service rotate-secret-key` has re-sealed everything.",
    )
    migrate_on_start: bool = setting(
        "MIGRATE_ON_START", True, Flag(),
        "`serve` applies pending migrations first; `false` (or `serve --no-migrate`) when `migrate` runs "
        "as its own step, and until it has, readiness and the API answer 503.",
    )
    workers: int = setting(
        "WORKERS", 1, Int(1, 64),
        "`serve` processes sharing the port (SO_REUSEPORT) and the database, migrated once and supervised "
        "by a parent; under an orchestrator, prefer replicas.",
    )
    reuse_port: bool = setting(
        "REUSE_PORT", False, Flag(), "Let several processes bind the same port (set for you by `WORKERS`)."
    )
    event_loop: str = setting(
        "EVENT_LOOP", "asyncio", EventLoop(), "The event loop; `uvloop` needs the `uvloop` extra installed."
    )
    db_pool_max_size: int = setting(
        "DB_POOL_MAX_SIZE", 10, Int(1, 500),
        "Database connections per process; one reseller's requests hold at most half of them.",
    )
    # One tenant never holds back another (service/limits.py); both within the 30 s statement timeout.
    db_acquire_timeout_seconds: float = setting(
        "DB_ACQUIRE_TIMEOUT_SECONDS", 5.0, Seconds(low=0.1, high=30.0),
        "The longest a request waits for a database connection (its reseller's share, then the pool) "
        "before it answers 503 `database_busy`.",
    )
    lock_timeout_seconds: float = setting(
        "LOCK_TIMEOUT_SECONDS", 3.0, Seconds(low=0.1, high=30.0),
        "PostgreSQL's `lock_timeout` on the service's sessions: a change waiting longer for a row another "
        "transaction holds (its order, or a subscription a change order's checkout claims) answers 409 "
        "`order_busy`.",
    )
    idle_in_transaction_timeout_seconds: float = setting(
        "IDLE_IN_TRANSACTION_TIMEOUT_SECONDS", 60.0, Seconds(low=1.0),
        "PostgreSQL's `idle_in_transaction_session_timeout` on the service's sessions: a transaction of "
        "its own left idle this long is ended by the server, so none holds the feed's horizon for long.",
    )
    log_level: str = setting(
        "LOG_LEVEL", "INFO", Choice(("DEBUG", "INFO", "WARNING", "ERROR")),
        "Threshold of the logs, JSON lines on stderr (one per request).",
    )
    sql_dir: Path | None = setting(
        "SQL_DIR", None, Directory(),
        "Where `migrations/` and `queries/` are; unset, the copy packaged with the service.",
    )
    token_ttl_seconds: int = setting(
        "TOKEN_TTL_SECONDS", 3600, Int(60, 86400), "Lifetime of reseller access tokens, in seconds."
    )
    # Stopping and slow clients (docs/how-to/operate.md).
    shutdown_drain_seconds: float = setting(
        "SHUTDOWN_DRAIN_SECONDS", 1.0, Seconds(low=0.0),
        "After SIGTERM, readiness answers 503 for this long before the listener closes.",
    )
    shutdown_timeout_seconds: float = setting(
        "SHUTDOWN_TIMEOUT_SECONDS", 20.0, Seconds(),
        "How long requests in flight may take to finish once the listener is closed.",
    )
    header_timeout_seconds: float = setting(
        "HEADER_TIMEOUT_SECONDS", 10.0, Seconds(low=0.5),
        "A connection must send a whole request head within this long, or it is closed.",
    )
    body_timeout_seconds: float = setting(
        "BODY_TIMEOUT_SECONDS", 10.0, Seconds(low=0.5),
        "A body that stops arriving for this long answers 408 (on shutdown, an upload still running this "
        "long after the listener closed answers 503).",
    )
    rate_limit_per_minute: int = setting(
        "RATE_LIMIT_PER_MINUTE", 1200, Int(0, 1_000_000),
        "Requests per credential and minute under `/api`, in bursts of that size, per process; `0` turns "
        "it off.",
    )
    metrics_enabled: bool = setting(
        "METRICS_ENABLED", True, Flag(), "`GET /metrics` (Prometheus); `false` answers 404 and records nothing."
    )
    metrics_token: str | None = setting(
        "METRICS_TOKEN", None, Secret(), "When set, `/metrics` needs `Authorization: Bearer <METRICS_TOKEN>`."
    )
    # Order execution and the scheduler.
    scheduler_enabled: bool = setting(
        "SCHEDULER_ENABLED", True, Flag(),
        "`false` runs the API without the background jobs on this process (other replicas do the work).",
    )
    poll_interval_seconds: float = setting(
        "POLL_INTERVAL_SECONDS", 5.0, Seconds(), "How often the scheduler advances order execution."
    )
    expire_interval_seconds: float = setting(
        "EXPIRE_INTERVAL_SECONDS", 60.0, Seconds(),
        "How often the scheduler deletes expired drafts and expired Idempotency-Keys.",
    )
    item_deadline_seconds: float = setting(
        "ITEM_DEADLINE_SECONDS", 900.0, Seconds(low=1.0),
        "An item not provisioned this long after checkout (or approval) is `Failed` with a message saying so.",
    )
    connector_timeout_seconds: float = setting(
        "CONNECTOR_TIMEOUT_SECONDS", 10.0, Seconds(low=0.1),
        "The longest one call to a fulfillment connector may take (connecting: at most 3 s of it); a "
        "timeout is retried.",
    )
    connector_concurrency: int = setting(
        "CONNECTOR_CONCURRENCY", 10, Int(1, 200),
        "Connector calls one process makes at once; also the size of each claim of due items.",
    )
    execution_lease_seconds: float = setting(
        "EXECUTION_LEASE_SECONDS", 60.0, Seconds(low=1.0, at_least_twice="connector_timeout_seconds"),
        "How long a claimed item belongs to the process that claimed it; a process that dies mid-call "
        "frees its items after this.",
    )
    # The events trail and safe retries. The contract keeps events at least 30 days.
    event_retention_days: int = setting(
        "EVENT_RETENTION_DAYS", 30, Int(30, 3650), "Events older than this many days are purged (hourly)."
    )
    idempotency_ttl_seconds: int = setting(
        "IDEMPOTENCY_TTL_SECONDS", 86400, Int(1, MAX_IDEMPOTENCY_TTL),
        "How long a stored answer replays its `Idempotency-Key`, in seconds.",
    )
    # Webhooks (docs/how-to/webhooks.md).
    webhook_poll_interval_seconds: float = setting(
        "WEBHOOK_POLL_INTERVAL_SECONDS", 1.0, Seconds(),
        "How often events become deliveries and due deliveries are sent.",
    )
    webhook_retry_schedule: tuple[float, ...] = setting(
        "WEBHOOK_RETRY_SCHEDULE", (5, 30, 120, 600, 1800, 7200, 21600, 43200), Schedule(),
        "The waits before each retry of a delivery; after the last, the delivery is `failed`.",
    )
    webhook_allow_private_urls: bool = setting(
        "WEBHOOK_ALLOW_PRIVATE_URLS", False, Flag(),
        "Allow webhook URLs that resolve to loopback, private or link-local addresses.",
    )
    # The contract promises any answer within 10 s counts: a lower value is for tests.
    webhook_timeout_seconds: float = setting(
        "WEBHOOK_TIMEOUT_SECONDS", 10.0, Seconds(low=0.1, high=10.0),
        "A delivery answered 2xx within this long succeeded.",
    )
    webhook_lease_seconds: float = setting(
        "WEBHOOK_LEASE_SECONDS", 30.0, Seconds(low=0.2, at_least_twice="webhook_timeout_seconds"),
        "How long a claimed delivery belongs to the process sending it.",
    )
    webhook_concurrency: int = setting(
        "WEBHOOK_CONCURRENCY", 20, Int(1, 500), "Deliveries one process sends at once."
    )
    webhook_endpoint_concurrency: int = setting(
        "WEBHOOK_ENDPOINT_CONCURRENCY", 4, Int(1, 500),
        "Deliveries one process sends at once to one endpoint, so a slow receiver holds up no other.",
    )
    webhooks_per_reseller: int = setting(
        "WEBHOOKS_PER_RESELLER", 20, Int(1, 10000),
        "Webhooks one reseller may have; one more answers 409 `webhook_limit_reached`.",
    )
    webhook_disable_after_seconds: float = setting(
        "WEBHOOK_DISABLE_AFTER_SECONDS", 3 * 86400.0, Seconds(low=1.0, high=365 * 86400.0),
        "An endpoint whose deliveries have all failed for this long is disabled.",
    )
    # Live events (docs/how-to/console-and-live-events.md). The contract wants a keepalive at least every 15 s.
    sse_keepalive_seconds: float = setting(
        "SSE_KEEPALIVE_SECONDS", 15.0, Seconds(low=0.05, high=15.0),
        "How often an idle event stream gets `: keepalive`.",
    )
    sse_max_streams_per_credential: int = setting(
        "SSE_MAX_STREAMS_PER_CREDENTIAL", 20, Int(1, 10000),
        "Open event streams per credential and process; more answer 429 `too_many_streams`.",
    )
    sse_max_streams_per_reseller: int = setting(
        "SSE_MAX_STREAMS_PER_RESELLER", 100, Int(1, 100000),
        "Open event streams per reseller and process; more answer 429 `too_many_streams`.",
    )
    sse_queue_size: int = setting(
        "SSE_QUEUE_SIZE", 2000, Int(500, 1_000_000),
        "Events a stream may fall behind before it is closed (its client resumes with `Last-Event-ID`).",
    )
    sse_fallback_poll_seconds: float = setting(
        "SSE_FALLBACK_POLL_SECONDS", 5.0, Seconds(low=0.05, high=60.0),
        "How often each process reads the feed when no notification came.",
    )
    sse_max_stream_seconds: float = setting(
        "SSE_MAX_STREAM_SECONDS", 3600.0, Seconds(low=0.05),
        "A stream ends after this long; its client reconnects with `Last-Event-ID`.",
    )
    # fmt: on

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values = {}
        for field in declared():
            name = field.metadata["env"]
            values[field.name] = field.metadata["kind"].parse(name, env.get(name), field.default)
        return cls(**values)

    def __post_init__(self) -> None:
        for field in declared():
            kind, value = field.metadata["kind"], getattr(self, field.name)
            # A call still running when its lease ends would let another replica
            # start the same work; a lease must outlast the slowest call.
            other = getattr(kind, "at_least_twice", None)
            if other and value < 2 * getattr(self, other):
                raise SettingsError(
                    f"{field.metadata['env']} must be at least twice {env_name(other)}, got "
                    f"{value:g} and {getattr(self, other):g}"
                )
            # The embedded default keeps a generated SECRET_KEY in DATA_DIR; a database of
            # one's own needs the key given, or its secrets would be sealed with a key that
            # dies with the process.
            needed_by = getattr(kind, "required_with", None)
            if needed_by and value is None and getattr(self, needed_by):
                raise SettingsError(
                    f"{field.metadata['env']} is required with {env_name(needed_by)}: "
                    f"{SECRET_KEY_BYTES} random bytes in base64, e.g. {GENERATE_KEY}"
                )


def declared() -> Iterator[dataclasses.Field]:
    """Every setting, in declaration order."""
    return iter(dataclasses.fields(Settings))


def env_name(field_name: str) -> str:
    return next(f.metadata["env"] for f in dataclasses.fields(Settings) if f.name == field_name)
