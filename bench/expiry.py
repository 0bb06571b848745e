"""The one place that knows how to run the draft expiry job.

The service's job lives in service/execution/ once it lands. Point SERVICE_JOB
(or the environment variable BENCH_EXPIRY_JOB) at it as "module:function"; the
adapter passes it the arguments it names among pool, queries and settings.
Until it exists, the harness runs the equivalent batched DELETE itself and the
results say so ("source").
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import time
from collections.abc import Mapping

import asyncpg

from service import db
from service.settings import Settings

# The service's expiry job, "module:function"; empty while it has not landed.
SERVICE_JOB = ""
FALLBACK_BATCH = 5_000
FALLBACK_SOURCE = "bench stand-in: batched DELETE of expired drafts (service job not found)"


@dataclasses.dataclass(kw_only=True)
class ExpiryRun:
    source: str
    deleted: int
    seconds: float


def _service_job():
    target = os.environ.get("BENCH_EXPIRY_JOB") or SERVICE_JOB
    if not target:
        return None, ""
    module_name, _, function_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        return None, ""
    return getattr(module, function_name, None), target


async def run(pool: asyncpg.Pool, bench_queries: Mapping[str, str], *, dsn: str) -> ExpiryRun:
    """Delete every expired draft; return how many, how long, and whose code did it."""
    job, target = _service_job()
    started = time.perf_counter()
    if job is not None:
        available = {
            "pool": pool,
            "queries": db.load_queries(db.sql_dir() / "queries"),
            "settings": Settings(database_url=dsn),
        }
        wanted = inspect.signature(job).parameters
        result = await job(**{name: available[name] for name in wanted if name in available})
        deleted = result if isinstance(result, int) else -1
        return ExpiryRun(source=f"service: {target}", deleted=deleted,
                         seconds=round(time.perf_counter() - started, 3))
    deleted = 0
    while True:
        # One short transaction per batch, so requests never queue behind a long lock.
        status = await pool.execute(bench_queries["bench_delete_expired_drafts_batch"], FALLBACK_BATCH)
        count = int(status.split()[-1])
        deleted += count
        if count < FALLBACK_BATCH:
            break
    return ExpiryRun(source=FALLBACK_SOURCE, deleted=deleted,
                     seconds=round(time.perf_counter() - started, 3))
