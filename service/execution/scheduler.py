"""Cleanup contexts of execution: the outbound HTTP client and the scheduler.

APScheduler only says *when* a job runs on this process (one at a time,
missed runs coalesced); which rows a run may touch is decided in SQL, so any
number of replicas can run the same jobs at once.
"""

from __future__ import annotations

import asyncio
import datetime
import logging

import aiohttp
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from service.execution.expiry import DraftExpiry, EventRetention, IdempotencyKeyPurge
from service.execution.poller import Poller
from service.state import DATABASE, DRAFT_EXPIRY, HTTP_CLIENT, KEY_PURGE, POLLER, SETTINGS

logger = logging.getLogger(__name__)

# Connecting should be quick even when the whole call may take longer.
_CONNECT_TIMEOUT_SECONDS = 3.0


async def http_client_ctx(app: web.Application):
    settings = app[SETTINGS]
    total = settings.connector_timeout_seconds
    timeout = aiohttp.ClientTimeout(
        total=total, connect=min(_CONNECT_TIMEOUT_SECONDS, total), sock_read=total
    )
    connector = aiohttp.TCPConnector(limit=settings.connector_concurrency * 2)
    async with aiohttp.ClientSession(
        timeout=timeout, connector=connector, headers={"User-Agent": "reseller-ordering"}
    ) as session:
        app[HTTP_CLIENT] = session
        yield


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
    app[POLLER] = poller
    app[DRAFT_EXPIRY] = expiry
    app[KEY_PURGE] = purge
    if not settings.scheduler_enabled:
        yield
        return
    scheduler = AsyncIOScheduler(timezone=datetime.UTC)
    for job_id, func, seconds in (
        ("poll_executions", poller.run_once, settings.poll_interval_seconds),
        ("expire_drafts", expiry.run_once, settings.expire_interval_seconds),
        # Keys live a day by default; the drafts' interval is often enough.
        ("purge_idempotency_keys", purge.run_once, settings.expire_interval_seconds),
        # Events are kept at least 30 days: once an hour is soon enough.
        ("purge_old_events", retention.run_once, 3600.0),
    ):
        scheduler.add_job(
            func,
            IntervalTrigger(seconds=seconds),
            id=job_id,
            max_instances=1,
            coalesce=True,
            # A late run is still worth doing; it was only delayed.
            misfire_grace_time=None,
        )
    scheduler.start()
    logger.info(
        "scheduler started",
        extra={
            "poll_interval_seconds": settings.poll_interval_seconds,
            "expire_interval_seconds": settings.expire_interval_seconds,
        },
    )
    yield
    scheduler.pause()
    # One connector call is the longest a step can take; waiting longer gains nothing.
    timeout = min(settings.shutdown_timeout_seconds, settings.connector_timeout_seconds)
    await asyncio.gather(
        poller.drain(timeout), expiry.drain(timeout), purge.drain(timeout), retention.drain(timeout)
    )
    scheduler.shutdown(wait=False)
    # AsyncIOScheduler shuts down on the next loop iteration; let it happen
    # while the loop still runs.
    await asyncio.sleep(0)
    logger.info("scheduler stopped")
