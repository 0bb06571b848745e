"""python -m bench.expiry_variants: the draft expiry job, variant against variant, on one data set.

    python -m bench.expiry_variants prepare --base 1000000 --drafts 1000000   # once, ~5 min
    python -m bench.expiry_variants run legacy,current --rounds 2             # job alone
    python -m bench.expiry_variants load legacy,current --rounds 2            # under API load
    python -m bench.expiry_variants explain current                           # one batch

`prepare` loads a template database as bench/run.py builds its data (base
orders in steps, each vacuumed, then expired drafts, ANALYZE). Every run
copies it afresh and times the job's run_once until it returns 0; variants
alternate (A, B, A, B) so the drift of a shared machine falls on all alike.
`run` also reports the job backend's CPU seconds (steadier than wall time
when others use the machine) and the WAL written; `load` runs the service
with GET /api/orders/{id} at c=32, idle and then while the job runs, as the
benchmark's expiry phase does, and reports both p99s.

"current" is the job as this checkout has it; "legacy" the job before it
walked in id order (its statement and index are below). More variants come
from bench/.work/expiry_variants.json (never committed): {"name": {"queries":
{"expiry_delete_batch": "..."}, "job": {"batch_size": 5000}, "setup": ["SQL
run on the copy first", ...], "legacy": false}}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import time

import aiohttp
import asyncpg
import psutil

from bench import api, database, loader, wrk
from bench.scenarios import SCENARIOS, Fixtures, Target
from bench.servers import start_service
from service import db
from service.execution.expiry import BatchedDelete, DraftExpiry

SCRATCH = "expiry_scratch"
QUERIES = db.load_queries(db.sql_dir() / "queries")
VARIANTS_FILE = database.WORK_DIR / "expiry_variants.json"
APPLICATION = "expiry-variants"

# The job before it walked in id order (commit e3e7f22), to measure against.
LEGACY_QUERY = """
WITH doomed AS (
    SELECT id FROM orders
    WHERE status = 'Draft' AND expiration_date < current_date
    ORDER BY expiration_date, id
    LIMIT $1::integer
    FOR UPDATE SKIP LOCKED
),
deleted AS (
    DELETE FROM orders o USING doomed
    WHERE o.id = doomed.id AND o.status = 'Draft' AND o.expiration_date < current_date
    RETURNING o.id, o.reseller_id, o.account_id, o.expiration_date
),
events AS (
    INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type, data)
    SELECT reseller_id, id, account_id, 'order.expired', 'system',
           jsonb_build_object('expirationDate', expiration_date)
    FROM deleted
    ORDER BY id
)
SELECT count(*)::integer AS deleted FROM deleted
"""
# The schema it ran on: migration 0009 undone (the service needs it applied to start).
LEGACY_SCHEMA = (
    "CREATE INDEX orders_draft_expiry_idx ON orders (expiration_date, id) WHERE status = 'Draft'",
    "DROP INDEX orders_draft_walk_idx",
    """ALTER TABLE executions
           DROP CONSTRAINT executions_item_fkey,
           ADD CONSTRAINT executions_item_id_fkey FOREIGN KEY (item_id) REFERENCES order_items (id)
               ON DELETE CASCADE,
           ADD CONSTRAINT executions_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id)
               ON DELETE CASCADE""",
)


class LegacyExpiry(BatchedDelete):
    query = "legacy_expiry_delete_batch"
    what = "expired drafts (legacy)"


def _variants() -> dict:
    variants = {"current": {}, "legacy": {"legacy": True}}
    if VARIANTS_FILE.exists():
        variants.update(json.loads(VARIANTS_FILE.read_text()))
    return variants


def _job(variant: dict, pool: asyncpg.Pool) -> BatchedDelete:
    queries = {**QUERIES, "legacy_expiry_delete_batch": LEGACY_QUERY, **variant.get("queries", {})}
    job_class = LegacyExpiry if variant.get("legacy") else DraftExpiry
    return job_class(db=db.Database(pool=pool, queries=queries), **variant.get("job", {}))


async def _until_none_left(job: BatchedDelete) -> tuple[int, int]:
    """As bench/expiry.py calls the job: run after run until one finds nothing."""
    deleted = runs = 0
    while count := await job.run_once():
        deleted += count
        runs += 1
    return deleted, runs


async def _admin(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def prepare(server_dsn: str, template: str, *, base: int, drafts: int) -> None:
    dsn = await database.recreate_database(server_dsn, template)
    await database.apply_migrations(dsn)
    conn = await loader.connect(dsn)
    try:
        tenants = await loader.load_tenants(conn, resellers=1000)
        left = base
        while left:  # in steps, each vacuumed, as bench/run.py grows its data
            await loader.load_orders(conn, tenants, min(500_000, left))
            await loader.finish(conn, database.bench_queries())
            left -= min(500_000, left)
        stats = await loader.load_orders(conn, tenants, drafts, expired_drafts=True)
        await conn.execute("ANALYZE orders")  # what bench/run.py does after loading the drafts
        print(f"{template}: {base} orders, then {stats.orders} expired drafts with {stats.items} items")
    finally:
        await conn.close()


async def _copy(server_dsn: str, template: str, variant: dict) -> str:
    """A fresh copy of the template, migrated (it may predate a migration), set up for the variant."""
    await _admin(
        server_dsn,
        f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)',
        "CHECKPOINT",
        f'CREATE DATABASE "{SCRATCH}" TEMPLATE "{template}" STRATEGY FILE_COPY',
        "CHECKPOINT",
    )
    dsn = database.database_dsn(server_dsn, SCRATCH)
    await database.apply_migrations(dsn)
    legacy = LEGACY_SCHEMA if variant.get("legacy") else ()
    await _admin(dsn, *legacy, *variant.get("setup", []), "ANALYZE orders")
    return dsn


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            total += sum(process.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return total


async def _alone(server_dsn: str, template: str, name: str, variant: dict) -> dict:
    dsn = await _copy(server_dsn, template, variant)
    pool = await asyncpg.create_pool(
        dsn, min_size=2, max_size=2, server_settings={"timezone": "UTC", "application_name": APPLICATION}
    )
    try:
        pids = await pool.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = $1", APPLICATION)
        backends = [psutil.Process(r["pid"]) for r in pids]
        cpu_before = _cpu_seconds(backends)
        wal_before = await pool.fetchval("SELECT pg_current_wal_lsn()")
        started = time.perf_counter()
        deleted, runs = await _until_none_left(_job(variant, pool))
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds(backends) - cpu_before
        wal = await pool.fetchval("SELECT pg_current_wal_lsn() - $1::pg_lsn", wal_before)
        left = await pool.fetchval(database.bench_queries()["bench_count_expired_drafts"])
        events = await pool.fetchval("SELECT count(*) FROM order_events WHERE type = 'order.expired'")
    finally:
        await pool.close()
    return {"variant": name, "deleted": deleted, "left": left, "events": events, "runs": runs,
            "seconds": round(seconds, 2), "per_second": round(deleted / seconds),
            "job_cpu_s": round(cpu, 2), "per_cpu_second": round(deleted / cpu) if cpu else None,
            "wal_mb": round(float(wal) / 2**20), "load1": os.getloadavg()[0]}


async def _under_load(server_dsn: str, template: str, name: str, variant: dict, *, seconds: float) -> dict:
    dsn = await _copy(server_dsn, template, variant)
    admin = secrets.token_urlsafe(16)
    service = start_service(dsn, admin_token=admin)
    conn = await loader.connect(dsn)
    pool = await database.create_pool(dsn, max_size=2)  # the benchmark's pool for the job
    try:
        queries = database.bench_queries()
        async with aiohttp.ClientSession() as session:
            client_id, secret, _ = await api.credentials(
                session, service.url, admin_token=admin, reseller_id=loader.LARGE_TENANT, conn=conn,
                queries=queries)
            token = await api.token(session, service.url, client_id, secret)
        ids = [r["id"] for r in await conn.fetch(queries["bench_sample_order_ids"], loader.LARGE_TENANT, 1000)]
        target = Target(server=service, read_token=token, write_token=token)
        load = SCENARIOS["get_order"].build(target, Fixtures(order_ids=ids, writer_account_id=0, product_id=0))
        idle = [wrk.run(connections=32, seconds=seconds, **load) for _ in range(2)]
        running = wrk.Run(connections=32, seconds=900, **load)
        await asyncio.sleep(1.0)
        started = time.perf_counter()
        deleted, _ = await _until_none_left(_job(variant, pool))
        took = time.perf_counter() - started
        running.interrupt()
        during = running.wait()
    finally:
        await pool.close()
        await conn.close()
        service.stop()
    idle_p99 = statistics.median(r.p99_ms for r in idle)
    return {"variant": name, "deleted": deleted, "seconds": round(took, 1), "per_second": round(deleted / took),
            "idle_p99_ms": round(idle_p99, 1), "during_p99_ms": round(during.p99_ms, 1),
            "p99_ratio": round(during.p99_ms / idle_p99, 2), "idle_rps": round(min(r.rps for r in idle)),
            "during_rps": round(during.rps), "errors": during.errors, "load1": os.getloadavg()[0]}


def _summary(results: dict[str, list[dict]], keys: tuple[str, ...]) -> None:
    first = next(iter(results))
    for key in keys:
        base = statistics.median(r[key] for r in results[first])
        for name, rows in results.items():
            values = [r[key] for r in rows]
            print(f"{key:>15} {name:>16}: median {statistics.median(values):>9.2f}  "
                  f"range {min(values)}-{max(values)}  x{statistics.median(values) / base:.2f} of {first}")


async def compare(server_dsn: str, template: str, *, names: list[str], rounds: int, load: float | None) -> None:
    variants = _variants()
    results: dict[str, list[dict]] = {n: [] for n in names}
    print(f"uptime load: {os.getloadavg()}", flush=True)
    for _ in range(rounds):
        for name in names:
            if load is None:
                result = await _alone(server_dsn, template, name, variants[name])
            else:
                result = await _under_load(server_dsn, template, name, variants[name], seconds=load)
            results[name].append(result)
            print(json.dumps(result), flush=True)
    _summary(results, ("per_second", "per_cpu_second") if load is None else ("per_second", "p99_ratio"))
    print(f"uptime load: {os.getloadavg()}")


async def explain(server_dsn: str, template: str, *, name: str, batch: int, warm: int) -> None:
    """EXPLAIN (ANALYZE, BUFFERS, WAL) one batch after `warm` batches (a steady state)."""
    variant = _variants()[name]
    dsn = await _copy(server_dsn, template, variant)
    conn = await asyncpg.connect(dsn, **db.connect_kwargs())
    try:
        legacy = variant.get("legacy")
        sql = LEGACY_QUERY if legacy else {**QUERIES, **variant.get("queries", {})}["expiry_delete_batch"]
        args = (batch,) if legacy else (batch, 0)
        for _ in range(warm):
            row = await conn.fetchrow(sql, *args)
            args = args if legacy else (batch, row["last_id"])
        plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS, WAL, VERBOSE) {sql}", *args)
        print("\n".join(r[0] for r in plan))
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.expiry_variants", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", default="expiry_template", help="the template database's name")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--base", type=int, default=1_000_000)
    p.add_argument("--drafts", type=int, default=1_000_000)
    for command in ("run", "load"):
        r = sub.add_parser(command)
        r.add_argument("variants", help="comma-separated, e.g. legacy,current")
        r.add_argument("--rounds", type=int, default=2)
        if command == "load":
            r.add_argument("--idle-seconds", type=float, default=8.0, help="each of two idle wrk runs")
    e = sub.add_parser("explain")
    e.add_argument("variant")
    e.add_argument("--batch", type=int, default=1000)
    e.add_argument("--warm", type=int, default=50)
    args = parser.parse_args()
    with database.postgres() as server_dsn:
        if args.command == "prepare":
            asyncio.run(prepare(server_dsn, args.template, base=args.base, drafts=args.drafts))
        elif args.command == "explain":
            asyncio.run(explain(server_dsn, args.template, name=args.variant, batch=args.batch, warm=args.warm))
        else:
            load = args.idle_seconds if args.command == "load" else None
            asyncio.run(compare(server_dsn, args.template, names=args.variants.split(","),
                                rounds=args.rounds, load=load))


if __name__ == "__main__":
    main()
