"""The one place that knows how to run the draft expiry job.

The service's job is service.execution.expiry.DraftExpiry (branch `execution`):
run_once() deletes expired drafts in batches of 1,000 for at most 30 s and
returns how many. The adapter calls it as the scheduler does, run after run,
until a run finds nothing. Where that module is not there yet, the harness runs
the equivalent batched DELETE itself and the results say so ("source").
"""

from __future__ import annotations

import dataclasses
import importlib
import time
from collections.abc import Mapping

import asyncpg

from service import db

SERVICE_JOB = ("service.execution.expiry", "DraftExpiry")
FALLBACK_BATCH = 1_000  # the service job's batch size, so the stand-in is comparable
FALLBACK_SOURCE = "bench stand-in: batched DELETE of expired drafts (service.execution.expiry not found)"


@dataclasses.dataclass(kw_only=True)
class ExpiryRun:
    source: str
    deleted: int
    seconds: float
    runs: int


def _service_job_class():
    module_name, class_name = SERVICE_JOB
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        return None
    return getattr(module, class_name, None)


async def run(pool: asyncpg.Pool, bench_queries: Mapping[str, str]) -> ExpiryRun:
    """Delete every expired draft; return how many, how long, and whose code did it."""
    job_class = _service_job_class()
    started = time.perf_counter()
    deleted = runs = 0
    if job_class is not None:
        job = job_class(db=db.Database(pool=pool, queries=db.load_queries(db.sql_dir() / "queries")))
        while True:
            count = await job.run_once()
            deleted += count
            runs += 1
            if count == 0:
                break
        return ExpiryRun(source="service: " + ".".join(SERVICE_JOB) + ".run_once", deleted=deleted,
                         seconds=round(time.perf_counter() - started, 3), runs=runs)
    while True:
        # One short transaction per batch, so requests never queue behind a long lock.
        status = await pool.execute(bench_queries["bench_delete_expired_drafts_batch"], FALLBACK_BATCH)
        count = int(status.split()[-1])
        deleted += count
        runs += 1
        if count < FALLBACK_BATCH:
            break
    return ExpiryRun(source=FALLBACK_SOURCE, deleted=deleted,
                     seconds=round(time.perf_counter() - started, 3), runs=runs)
