"""Prometheus metrics of the contract's Metrics section, served at GET /metrics.

One `Metrics` per application, each with its own CollectorRegistry. With
several `serve` processes (WORKERS > 1) service.workers gives them a shared
PROMETHEUS_MULTIPROC_DIR before they start; prometheus-client then keeps every
value in a file per process there, and whichever process answers the scrape
adds them all up (counters and histograms summed, pool gauges summed over
live processes, database-derived gauges the most recently computed).

What costs what:
- a request: one counter increment and one histogram observation, through
  label children cached per (method, route template, status);
- the pool gauge: read from the pool's own counters when scraped (and every
  second in multiprocess mode, so other processes' answers are current);
- the execution backlog gauges: one query over the unfinished items' partial
  index, at most every DB_GAUGE_TTL_SECONDS per process, only when scraped;
- the feed's horizon lag: one range read of the events past the horizon (few
  or none), as often.

Hooks for the webhook sender (its tables are not in this module's branch):
- `metrics.webhook_delivered(outcome)` after each delivery attempt, with
  outcome "succeeded", "retrying" (failed, another attempt is scheduled) or
  "failed" (failed, no attempt left);
- `metrics.webhook_backlog_probe = async () -> float`: seconds the oldest
  pending delivery has been due (0 when none); refreshed like the execution
  gauges. Until it is set the gauge reads 0.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DB_GAUGE_TTL_SECONDS = 5.0
DB_GAUGE_TIMEOUT_SECONDS = 1.0
POOL_REFRESH_SECONDS = 1.0
# Request latency: a primary-key read takes a few ms; 10 s is the connector timeout.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the route label of requests no route matched (404, 405)
EXECUTING = ("Pending", "In Progress")
JOB_OUTCOMES = ("ok", "error")
WEBHOOK_OUTCOMES = ("succeeded", "retrying", "failed")
POOL_STATES = ("in_use", "idle")


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class Metrics:
    def __init__(self) -> None:
        self.directory = multiprocess_dir()
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by method, route template and status",
            ("method", "route", "status"),
            registry=registry,
        )
        self.durations = Histogram(
            "http_request_duration_seconds",
            "Time from the request's arrival in the application to its answer",
            ("method", "route"),
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.pool = Gauge(
            "db_pool_connections",
            "Database connections of the pool(s), by state",
            ("state",),
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.executing = Gauge(
            "order_items_executing",
            "Items whose execution has not finished, by status",
            ("status",),
            multiprocess_mode="mostrecent",
            registry=registry,
        )
        self.execution_age = Gauge(
            "execution_oldest_pending_age_seconds",
            "Seconds the unfinished item due the longest has waited for its next step (0: none due)",
            multiprocess_mode="mostrecent",
            registry=registry,
        )
        self.job_runs = Counter(
            "scheduler_job_runs_total",
            "Scheduler job runs, by job and outcome",
            ("job", "outcome"),
            registry=registry,
        )
        self.drafts_expired = Counter(
            "drafts_expired_total", "Expired drafts deleted by the expiry job", registry=registry
        )
        self.webhook_deliveries = Counter(
            "webhook_deliveries_total",
            "Webhook delivery attempts, by outcome",
            ("outcome",),
            registry=registry,
        )
        self.webhook_age = Gauge(
            "webhook_oldest_pending_age_seconds",
            "Seconds the oldest pending webhook delivery has been due (0: none)",
            multiprocess_mode="mostrecent",
            registry=registry,
        )
        self.horizon_lag = Gauge(
            "events_feed_horizon_lag_seconds",
            "Seconds the oldest transaction still running on the database has held the events feed, "
            "the stream and webhooks back (0: nothing is held back)",
            multiprocess_mode="mostrecent",
            registry=registry,
        )
        self.rate_limited = Counter(
            "rate_limited_total",
            "Requests answered 429: over a credential's rate limit, or braked token attempts",
            registry=registry,
        )
        # Every labelled series exists from the start, at 0, so rules and
        # dashboards never meet a missing series.
        for state in POOL_STATES:
            self.pool.labels(state)
        for status in EXECUTING:
            self.executing.labels(status)
        for outcome in WEBHOOK_OUTCOMES:
            self.webhook_deliveries.labels(outcome)
        self.webhook_backlog_probe: Callable[[], Awaitable[float]] | None = None
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any, Any]] = {}
        self._db_fresh_until = 0.0

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request; the hot path. Straight to the children's
        values: prometheus-client's public observe() checks the metric and walks
        the buckets in Python on every call, about 2 µs of a GET order's ~180."""
        values = self._children.get((method, route, status))
        if values is None:
            values = self._children_for(method, route, status)
        count, total, buckets, bounds = values
        count.inc(1)
        total.inc(seconds)
        buckets[bisect.bisect_left(bounds, seconds)].inc(1)  # the first bucket whose bound >= seconds

    def _children_for(self, method: str, route: str, status: int) -> tuple[Any, Any, Any, Any]:
        # Methods clients invent would each be a new series: fold them.
        label = method if method in METHODS else "other"
        requests = self.requests.labels(label, route, str(status))
        durations = self.durations.labels(label, route)
        # The last bound is +Inf, so every duration has its bucket.
        values = (requests._value, durations._sum, durations._buckets, tuple(durations._upper_bounds))
        self._children[(method, route, status)] = values
        return values

    def job(self, name: str, run: Callable[[], Awaitable[Any]], *, failures: Callable[[], int]):
        """Wrap a scheduler job: count its runs by outcome. `failures` reads the
        job's count of runs that failed and were logged (the jobs never raise)."""
        for outcome in JOB_OUTCOMES:
            self.job_runs.labels(name, outcome)

        async def tracked() -> Any:
            before = failures()
            try:
                result = await run()
            except Exception:
                self.job_runs.labels(name, "error").inc()
                raise
            self.job_runs.labels(name, "error" if failures() > before else "ok").inc()
            return result

        return tracked

    def webhook_delivered(self, outcome: str) -> None:
        self.webhook_deliveries.labels(outcome).inc()

    def set_pool(self, pool: Any) -> None:
        size, idle = pool.get_size(), pool.get_idle_size()
        self.pool.labels("in_use").set(size - idle)
        self.pool.labels("idle").set(idle)

    async def refresh(self, db: Any) -> None:
        """The gauges read from the database, if the last reading is older than the TTL."""
        now = time.monotonic()
        if now < self._db_fresh_until:
            return
        self._db_fresh_until = now + DB_GAUGE_TTL_SECONDS
        try:
            async with asyncio.timeout(DB_GAUGE_TIMEOUT_SECONDS):
                row = await db.fetchrow("metrics_execution_backlog")
                horizon_lag = await db.fetchval("metrics_feed_horizon")
                webhook_age = await self.webhook_backlog_probe() if self.webhook_backlog_probe else 0.0
        except Exception as exc:
            # Metrics matter most while the database is in trouble: answer with the last values.
            logger.warning("metrics: database gauges not refreshed", extra={"error": str(exc)[:200]})
            return
        self.executing.labels("Pending").set(row["pending"])
        self.executing.labels("In Progress").set(row["in_progress"])
        self.execution_age.set(row["oldest_due_seconds"])
        self.webhook_age.set(webhook_age)
        self.horizon_lag.set(horizon_lag)

    def exposition(self) -> bytes:
        if self.directory is None:
            return generate_latest(self.registry)
        # Every process's values, from the files they keep.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.directory)
        return generate_latest(registry)


async def keep_pool_current(metrics: Metrics, pool: Any) -> None:
    """Multiprocess mode: another process answers scrapes, so write the pool gauge every second."""
    while True:
        with contextlib.suppress(Exception):
            metrics.set_pool(pool)
        await asyncio.sleep(POOL_REFRESH_SECONDS)
