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

from service.execution.expiry import DraftExpiry
from service.execution.poller import Poller
from service.state import DATABASE, DRAFT_EXPIRY, HTTP_CLIENT, METRICS, POLLER, SETTINGS

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


def _tracked(app: web.Application, name: str, job: Poller | DraftExpiry):
    """The job's run, counted in scheduler_job_runs_total (and drafts_expired_total)."""
    metrics = app[METRICS]
    if metrics is None:
        return job.run_once
    run = metrics.job(name, job.run_once, failures=lambda: job.failures)
    if not isinstance(job, DraftExpiry):
        return run

    async def expire() -> int:
        deleted = await run()
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
    app[POLLER] = poller
    app[DRAFT_EXPIRY] = expiry
    if not settings.scheduler_enabled:
        yield
        return
    scheduler = AsyncIOScheduler(timezone=datetime.UTC)
    for job_id, func, seconds in (
        ("poll_executions", _tracked(app, "poll_executions", poller), settings.poll_interval_seconds),
        ("expire_drafts", _tracked(app, "expire_drafts", expiry), settings.expire_interval_seconds),
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
    await asyncio.gather(poller.drain(timeout), expiry.drain(timeout))
    scheduler.shutdown(wait=False)
    # AsyncIOScheduler shuts down on the next loop iteration; let it happen
    # while the loop still runs.
    await asyncio.sleep(0)
    logger.info("scheduler stopped")
