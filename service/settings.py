"""Settings read from the environment once, validated at start."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
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


class SecretKeyError(SettingsError):
    """A SECRET_KEY value that is not 32 bytes of base64."""


def parse_key(text: str, *, name: str = "SECRET_KEY") -> bytes:
    """32 bytes from base64 (standard or URL-safe alphabet). The message never shows the value."""
    raw = text.strip()
    try:
        key = base64.b64decode(raw.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise SecretKeyError(
            f"{name} must be {SECRET_KEY_BYTES} random bytes in base64 (generate one with: "
            "python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
        ) from None
    if len(key) != SECRET_KEY_BYTES:
        raise SecretKeyError(f"{name} must be {SECRET_KEY_BYTES} bytes in base64, got {len(key)} bytes")
    return key


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 8080
    database_url: str | None = None
    data_dir: Path = Path(".data")
    admin_token: str | None = None
    admin_failed_auth_per_minute: int = 10
    # Seals keys and secrets at rest (service.secretbox); never shown by repr.
    secret_key: bytes | None = dataclasses.field(default=None, repr=False)
    old_secret_key: bytes | None = dataclasses.field(default=None, repr=False)
    expire_interval_seconds: float = 60.0
    poll_interval_seconds: float = 5.0
    migrate_on_start: bool = True
    shutdown_timeout_seconds: float = 20.0
    shutdown_drain_seconds: float = 1.0
    token_ttl_seconds: int = 3600
    item_deadline_seconds: float = 900.0
    db_pool_max_size: int = 10
    db_acquire_timeout_seconds: float = 5.0
    lock_timeout_seconds: float = 3.0
    idle_in_transaction_timeout_seconds: float = 60.0
    log_level: str = "INFO"
    workers: int = 1
    reuse_port: bool = False
    sql_dir: Path | None = None
    scheduler_enabled: bool = True
    execution_lease_seconds: float = 60.0
    connector_timeout_seconds: float = 10.0
    connector_concurrency: int = 10
    event_retention_days: int = 30
    event_loop: str = "asyncio"
    idempotency_ttl_seconds: int = 86400
    webhook_poll_interval_seconds: float = 1.0
    webhook_retry_schedule: tuple[float, ...] = (5, 30, 120, 600, 1800, 7200, 21600, 43200)
    webhook_allow_private_urls: bool = False
    webhook_timeout_seconds: float = 10.0
    webhook_lease_seconds: float = 30.0
    webhook_concurrency: int = 20
    webhook_endpoint_concurrency: int = 4
    webhook_disable_after_seconds: float = 3 * 86400.0
    webhooks_per_reseller: int = 20
    sse_keepalive_seconds: float = 15.0
    sse_max_streams_per_credential: int = 20
    sse_max_streams_per_reseller: int = 100
    sse_queue_size: int = 2000
    sse_fallback_poll_seconds: float = 5.0
    sse_max_stream_seconds: float = 3600.0
    rate_limit_per_minute: int = 1200
    metrics_enabled: bool = True
    metrics_token: str | None = None
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            host=_text(env, "HOST", cls.host),
            port=_int(env, "PORT", cls.port, low=1, high=65535),
            database_url=_database_url(env),
            data_dir=Path(_text(env, "DATA_DIR", str(cls.data_dir))),
            admin_token=_admin_token(env),
            admin_failed_auth_per_minute=_int(
                env, "ADMIN_FAILED_AUTH_PER_MINUTE", cls.admin_failed_auth_per_minute, low=1, high=100_000
            ),
            secret_key=_secret_key(env, "SECRET_KEY"),
            old_secret_key=_secret_key(env, "OLD_SECRET_KEY"),
            expire_interval_seconds=_float(env, "EXPIRE_INTERVAL_SECONDS", cls.expire_interval_seconds),
            poll_interval_seconds=_float(env, "POLL_INTERVAL_SECONDS", cls.poll_interval_seconds),
            migrate_on_start=_bool(env, "MIGRATE_ON_START", cls.migrate_on_start),
            shutdown_timeout_seconds=_float(env, "SHUTDOWN_TIMEOUT_SECONDS", cls.shutdown_timeout_seconds),
            shutdown_drain_seconds=_float(env, "SHUTDOWN_DRAIN_SECONDS", cls.shutdown_drain_seconds, low=0.0),
            token_ttl_seconds=_int(env, "TOKEN_TTL_SECONDS", cls.token_ttl_seconds, low=60, high=86400),
            item_deadline_seconds=_float(env, "ITEM_DEADLINE_SECONDS", cls.item_deadline_seconds, low=1.0),
            db_pool_max_size=_int(env, "DB_POOL_MAX_SIZE", cls.db_pool_max_size, low=1, high=500),
            # One tenant never holds back another (service.limits); both within the 30 s statement timeout.
            db_acquire_timeout_seconds=_float(
                env, "DB_ACQUIRE_TIMEOUT_SECONDS", cls.db_acquire_timeout_seconds, low=0.1, high=30.0
            ),
            lock_timeout_seconds=_float(env, "LOCK_TIMEOUT_SECONDS", cls.lock_timeout_seconds, low=0.1, high=30.0),
            idle_in_transaction_timeout_seconds=_float(
                env, "IDLE_IN_TRANSACTION_TIMEOUT_SECONDS", cls.idle_in_transaction_timeout_seconds, low=1.0
            ),
            workers=_int(env, "WORKERS", cls.workers, low=1, high=64),
            reuse_port=_bool(env, "REUSE_PORT", cls.reuse_port),
            log_level=_choice(env, "LOG_LEVEL", cls.log_level, ("DEBUG", "INFO", "WARNING", "ERROR")),
            sql_dir=Path(env["SQL_DIR"]) if env.get("SQL_DIR") else None,
            scheduler_enabled=_bool(env, "SCHEDULER_ENABLED", cls.scheduler_enabled),
            execution_lease_seconds=_float(
                env, "EXECUTION_LEASE_SECONDS", cls.execution_lease_seconds, low=1.0
            ),
            connector_timeout_seconds=_float(
                env, "CONNECTOR_TIMEOUT_SECONDS", cls.connector_timeout_seconds, low=0.1
            ),
            connector_concurrency=_int(
                env, "CONNECTOR_CONCURRENCY", cls.connector_concurrency, low=1, high=200
            ),
            event_loop=_event_loop(env),
            # The contract keeps events at least 30 days.
            event_retention_days=_int(env, "EVENT_RETENTION_DAYS", cls.event_retention_days, low=30, high=3650),
            idempotency_ttl_seconds=_int(
                env, "IDEMPOTENCY_TTL_SECONDS", cls.idempotency_ttl_seconds, low=1, high=MAX_IDEMPOTENCY_TTL
            ),
            **_webhook_settings(env),
            # Live events (docs/console-and-live-events.md). The contract wants a
            # keepalive at least every 15 s.
            sse_keepalive_seconds=_float(
                env, "SSE_KEEPALIVE_SECONDS", cls.sse_keepalive_seconds, low=0.05, high=15.0
            ),
            sse_max_streams_per_credential=_int(
                env, "SSE_MAX_STREAMS_PER_CREDENTIAL", cls.sse_max_streams_per_credential, low=1, high=10000
            ),
            sse_max_streams_per_reseller=_int(
                env, "SSE_MAX_STREAMS_PER_RESELLER", cls.sse_max_streams_per_reseller, low=1, high=100000
            ),
            sse_queue_size=_int(env, "SSE_QUEUE_SIZE", cls.sse_queue_size, low=500, high=1_000_000),
            sse_fallback_poll_seconds=_float(
                env, "SSE_FALLBACK_POLL_SECONDS", cls.sse_fallback_poll_seconds, low=0.05, high=60.0
            ),
            sse_max_stream_seconds=_float(env, "SSE_MAX_STREAM_SECONDS", cls.sse_max_stream_seconds, low=0.05),
            rate_limit_per_minute=_int(
                env, "RATE_LIMIT_PER_MINUTE", cls.rate_limit_per_minute, low=0, high=1_000_000
            ),
            metrics_enabled=_bool(env, "METRICS_ENABLED", cls.metrics_enabled),
            metrics_token=env.get("METRICS_TOKEN") or None,
            header_timeout_seconds=_float(env, "HEADER_TIMEOUT_SECONDS", cls.header_timeout_seconds, low=0.5),
            body_timeout_seconds=_float(env, "BODY_TIMEOUT_SECONDS", cls.body_timeout_seconds, low=0.5),
        )

    def __post_init__(self) -> None:
        # The embedded default keeps a generated key in DATA_DIR; a database of
        # one's own needs the key given, or its secrets would be sealed with a
        # key that dies with the process.
        if self.database_url and self.secret_key is None:
            raise SettingsError(
                "SECRET_KEY is required with DATABASE_URL: 32 random bytes in base64, e.g. "
                "python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'"
            )
        # A call still running when its lease ends would let another replica
        # start the same work; the lease must outlast the slowest call.
        if self.execution_lease_seconds < 2 * self.connector_timeout_seconds:
            raise SettingsError(
                "EXECUTION_LEASE_SECONDS must be at least twice CONNECTOR_TIMEOUT_SECONDS, got "
                f"{self.execution_lease_seconds:g} and {self.connector_timeout_seconds:g}"
            )
        if self.webhook_lease_seconds < 2 * self.webhook_timeout_seconds:
            raise SettingsError(
                "WEBHOOK_LEASE_SECONDS must be at least twice WEBHOOK_TIMEOUT_SECONDS, got "
                f"{self.webhook_lease_seconds:g} and {self.webhook_timeout_seconds:g}"
            )


def _webhook_settings(env: Mapping[str, str]) -> dict:
    defaults = Settings
    return {
        "webhook_poll_interval_seconds": _float(
            env, "WEBHOOK_POLL_INTERVAL_SECONDS", defaults.webhook_poll_interval_seconds
        ),
        "webhook_retry_schedule": _schedule(env, "WEBHOOK_RETRY_SCHEDULE", defaults.webhook_retry_schedule),
        "webhook_allow_private_urls": _bool(
            env, "WEBHOOK_ALLOW_PRIVATE_URLS", defaults.webhook_allow_private_urls
        ),
        # The contract promises any answer within 10 s counts: a lower value is for tests.
        "webhook_timeout_seconds": _float(
            env, "WEBHOOK_TIMEOUT_SECONDS", defaults.webhook_timeout_seconds, low=0.1, high=10.0
        ),
        "webhook_lease_seconds": _float(
            env, "WEBHOOK_LEASE_SECONDS", defaults.webhook_lease_seconds, low=0.2
        ),
        "webhook_concurrency": _int(
            env, "WEBHOOK_CONCURRENCY", defaults.webhook_concurrency, low=1, high=500
        ),
        "webhook_endpoint_concurrency": _int(
            env, "WEBHOOK_ENDPOINT_CONCURRENCY", defaults.webhook_endpoint_concurrency, low=1, high=500
        ),
        "webhooks_per_reseller": _int(env, "WEBHOOKS_PER_RESELLER", defaults.webhooks_per_reseller, low=1, high=10000),
        "webhook_disable_after_seconds": _float(
            env,
            "WEBHOOK_DISABLE_AFTER_SECONDS",
            defaults.webhook_disable_after_seconds,
            low=1.0,
            high=365 * 86400.0,
        ),
    }


def _event_loop(env: Mapping[str, str]) -> str:
    loop = _choice(env, "EVENT_LOOP", "ASYNCIO", ("ASYNCIO", "UVLOOP")).lower()
    if loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise SettingsError(
            "EVENT_LOOP=uvloop needs uvloop installed: pip install 'reseller-ordering-api[uvloop]'"
        )
    return loop


def _database_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("DATABASE_URL", "").strip()
    if not raw:
        return None
    # Never echo the value: it may hold a password.
    parts = urlsplit(raw)
    if parts.scheme not in ("postgresql", "postgres"):
        raise SettingsError(
            "DATABASE_URL must be a URL like postgresql://user:password@host:5432/dbname "
            f"(its scheme is {parts.scheme or 'missing'!r})"
        )
    try:
        _ = parts.port  # urlsplit parses the port only when asked
    except ValueError:
        raise SettingsError(
            "DATABASE_URL has a port that is not a number; percent-encode special characters "
            "of the user or password (/ as %2F, @ as %40, # as %23, : as %3A)"
        ) from None
    return raw


def _admin_token(env: Mapping[str, str]) -> str | None:
    token = env.get("ADMIN_TOKEN") or None
    if token is not None and len(token) < MIN_ADMIN_TOKEN_LENGTH:
        # Never echo the value: it is a secret.
        raise SettingsError(
            f"ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_LENGTH} characters, got {len(token)}"
        )
    return token


def _secret_key(env: Mapping[str, str], name: str) -> bytes | None:
    raw = env.get(name, "").strip()
    return parse_key(raw, name=name) if raw else None


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(
    env: Mapping[str, str], name: str, default: float, *, low: float = 0.05, high: float = 86400.0
) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low:g} and {high:g} seconds, got {raw}")
    return value


def _schedule(env: Mapping[str, str], name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    """Comma-separated seconds: 1 to 20 delays, each 0.05 to 86400."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        delays = tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise SettingsError(f"{name} must be seconds separated by commas, got {raw!r}") from None
    if not 1 <= len(delays) <= 20 or not all(0.05 <= delay <= 86400 for delay in delays):
        raise SettingsError(f"{name} must hold 1 to 20 delays, each between 0.05 and 86400 seconds, got {raw!r}")
    return delays


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().upper() or default
    if raw not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw
