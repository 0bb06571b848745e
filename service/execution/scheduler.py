"""Cleanup contexts of execution: the outbound HTTP clients and the scheduler.

APScheduler only says *when* a job runs on this process (one at a time,
missed runs coalesced); which rows a run may touch is decided in SQL, so any
number of replicas can run the same jobs at once.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from service.execution.expiry import DraftExpiry, EventRetention, IdempotencyKeyPurge
from service.execution.poller import Poller
from service.execution.webhook_dispatcher import WebhookDispatcher
from service.execution.webhook_sender import WebhookSender
from service.state import (
    DATABASE,
    DRAFT_EXPIRY,
    HTTP_CLIENT,
    KEY_PURGE,
    METRICS,
    POLLER,
    SECRET_BOX,
    SETTINGS,
    WEBHOOK_CLIENT,
    WEBHOOK_DISPATCHER,
    WEBHOOK_RESOLVER,
    WEBHOOK_SENDER,
)
from service.webhooks.addresses import GuardedResolver, new_resolver

logger = logging.getLogger(__name__)

# Connecting should be quick even when the whole call may take longer.
_CONNECT_TIMEOUT_SECONDS = 3.0


async def http_client_ctx(app: web.Application):
    settings = app[SETTINGS]
    total = settings.connector_timeout_seconds
    timeout = aiohttp.ClientTimeout(
        total=total, connect=min(_CONNECT_TIMEOUT_SECONDS, total), sock_read=total
    )
    # Connector hosts are resolved asynchronously, with a bound (service.webhooks.addresses).
    resolver = new_resolver()
    connector = aiohttp.TCPConnector(limit=settings.connector_concurrency * 2, resolver=resolver)
    try:
        async with aiohttp.ClientSession(
            timeout=timeout, connector=connector, headers={"User-Agent": "reseller-ordering"}
        ) as session:
            app[HTTP_CLIENT] = session
            yield
    finally:
        await resolver.close()


async def webhook_client_ctx(app: web.Application):
    """The client webhooks are sent with: it connects only to addresses its
    resolver allowed, keeps no cookies, and gives each send the contract's 10 s."""
    settings = app[SETTINGS]
    total = settings.webhook_timeout_seconds
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(app[WEBHOOK_RESOLVER], allow_private=settings.webhook_allow_private_urls),
        # Resolved again for every new connection, never from a cache.
        use_dns_cache=False,
        limit=settings.webhook_concurrency,
    )
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=total, connect=min(_CONNECT_TIMEOUT_SECONDS, total)),
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        headers={"User-Agent": "reseller-ordering-webhooks"},
    ) as session:
        app[WEBHOOK_CLIENT] = session
        yield


def _webhook_jobs(app: web.Application) -> tuple[WebhookDispatcher, WebhookSender]:
    settings = app[SETTINGS]
    sender = WebhookSender(
        db=app[DATABASE],
        session=app[WEBHOOK_CLIENT],
        lease_seconds=settings.webhook_lease_seconds,
        timeout_seconds=settings.webhook_timeout_seconds,
        concurrency=settings.webhook_concurrency,
        endpoint_concurrency=settings.webhook_endpoint_concurrency,
        schedule=settings.webhook_retry_schedule,
        disable_after_seconds=settings.webhook_disable_after_seconds,
        poll_interval_seconds=settings.webhook_poll_interval_seconds,
        allow_private=settings.webhook_allow_private_urls,
        box=app[SECRET_BOX],
    )
    return WebhookDispatcher(db=app[DATABASE]), sender


def _scheduler(jobs) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=datetime.UTC)
    for job_id, func, seconds in jobs:
        scheduler.add_job(
            func,
            IntervalTrigger(seconds=seconds),
            id=job_id,
            # The sender's loop outlives a tick while sends run; a second
            # instance only wakes it and returns (WebhookSender.run_once).
            max_instances=2 if job_id == "send_webhooks" else 1,
            coalesce=True,
            # A late run is still worth doing; it was only delayed.
            misfire_grace_time=None,
        )
    return scheduler


def _tracked(app: web.Application, name: str, run: Callable[[], Awaitable[Any]], job: Any):
    """The job's run, counted in scheduler_job_runs_total (expiry also in drafts_expired_total)."""
    metrics = app[METRICS]
    if metrics is None:
        return run
    tracked = metrics.job(name, run, failures=lambda: getattr(job, "failures", 0))
    if not isinstance(job, DraftExpiry):
        return tracked

    async def expire() -> int:
        deleted = await tracked()
        metrics.drafts_expired.inc(deleted)
        return deleted

    return expire


async def scheduler_ctx(app: web.Application):
    settings = app[SETTINGS]
    poller = Poller(
        db=app[DATABASE],
        session=app[HTTP_CLIENT],
        lease_seconds=settings.execution_lease_seconds,
        concurrency=settings.connector_concurrency,
    )
    expiry = DraftExpiry(db=app[DATABASE])
    purge = IdempotencyKeyPurge(db=app[DATABASE])
    retention = EventRetention(db=app[DATABASE], args=(settings.event_retention_days,))
    dispatcher, sender = _webhook_jobs(app)
    app[POLLER] = poller
    app[DRAFT_EXPIRY] = expiry
    app[KEY_PURGE] = purge
    app[WEBHOOK_DISPATCHER] = dispatcher
    app[WEBHOOK_SENDER] = sender
    metrics = app[METRICS]
    if metrics is not None:
        sender.on_outcome = metrics.webhook_delivered
        metrics.webhook_backlog_probe = sender.oldest_pending_age
    if not settings.scheduler_enabled:
        yield
        return
    jobs = (
        ("poll_executions", poller.run_once, settings.poll_interval_seconds, poller),
        ("expire_drafts", expiry.run_once, settings.expire_interval_seconds, expiry),
        # Keys live a day by default; the drafts' interval is often enough.
        ("purge_idempotency_keys", purge.run_once, settings.expire_interval_seconds, purge),
        # Events are kept at least 30 days: once an hour is soon enough.
        ("purge_old_events", retention.run_once, 3600.0, retention),
        (
            "dispatch_webhooks",
            functools.partial(dispatcher.run_once, on_dispatched=sender.kick),
            settings.webhook_poll_interval_seconds,
            dispatcher,
        ),
        ("send_webhooks", sender.run_once, settings.webhook_poll_interval_seconds, sender),
    )
    scheduler = _scheduler(
        [(name, _tracked(app, name, run, job), seconds) for name, run, seconds, job in jobs]
    )
    scheduler.start()
    logger.info(
        "scheduler started",
        extra={
            "poll_interval_seconds": settings.poll_interval_seconds,
            "expire_interval_seconds": settings.expire_interval_seconds,
            "webhook_poll_interval_seconds": settings.webhook_poll_interval_seconds,
        },
    )
    yield
    scheduler.pause()
    # One outbound call is the longest a step can take; waiting longer gains nothing.
    timeout = min(settings.shutdown_timeout_seconds, settings.connector_timeout_seconds)
    webhook_timeout = min(settings.shutdown_timeout_seconds, settings.webhook_timeout_seconds)
    await asyncio.gather(
        poller.drain(timeout),
        expiry.drain(timeout),
        purge.drain(timeout),
        retention.drain(timeout),
        dispatcher.drain(webhook_timeout),
        sender.drain(webhook_timeout),
    )
    scheduler.shutdown(wait=False)
    # AsyncIOScheduler shuts down on the next loop iteration; let it happen
    # while the loop still runs.
    await asyncio.sleep(0)
    logger.info("scheduler stopped")
