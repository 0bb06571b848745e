"""One benchmark run, start to end: data, servers, growth, scenarios, expiry."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import platform
import secrets
import time

import aiohttp
import psutil

from bench import api, database, expiry, loader, prepare, profile, webhooks, wrk
from bench.modes import Mode
from bench.scenarios import SCENARIOS, Target, alternate, one_run, summarise
from bench.servers import CEILING_POOL_SIZE, WITHOUT_OPS, service_settings, start_ceiling, start_service

logger = logging.getLogger("bench")
# The load during the expiry job stops when the job ends, or after this long.
EXPIRY_LOAD_LIMIT_SECONDS = 900


@dataclasses.dataclass(kw_only=True)
class Options:
    mode: Mode
    scenarios: tuple[str, ...]
    log_level: str | None
    profile: bool
    event_loop: str = "asyncio"  # both servers run on it: the ratio compares like with like


async def run(server_dsn: str, options: Options) -> dict:
    mode = options.mode
    queries = database.bench_queries()
    results: dict = {
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "mode": dataclasses.asdict(mode),
        "machine": {"cpus": psutil.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "python": platform.python_version(), "platform": platform.platform()},
        "settings": {"service_log_level": options.log_level or "default (INFO)", "wrk_threads": 1,
                     "event_loop": options.event_loop, "pool_size_each": CEILING_POOL_SIZE,
                     "pools": f"a pool of {CEILING_POOL_SIZE} connections for the ceiling, of {2 * CEILING_POOL_SIZE} "
                     f"for the service, of which the one reseller measured holds at most {CEILING_POOL_SIZE}",
                     "service_env": service_settings()[0], "service_env_why": service_settings()[1]},
        "data": {"loads": []}, "growth": [], "scenarios": [], "notes": [],
    }
    notes = results["notes"]
    dsn = await database.recreate_database(server_dsn)
    await database.apply_migrations(dsn)
    conn = await loader.connect(dsn)
    results["machine"]["postgres"] = await conn.fetchval("SHOW server_version")
    tenants = await loader.load_tenants(conn, resellers=mode.resellers)
    loaded = 0
    admin_token = secrets.token_urlsafe(16)
    loop_env = {"EVENT_LOOP": options.event_loop}
    service = start_service(dsn, admin_token=admin_token, log_level=options.log_level, extra_env=loop_env)
    ceiling = start_ceiling(dsn, event_loop=options.event_loop)
    plain = None  # the service without metrics and rate limits, started for ops_overhead only
    postgres = database.postgres_processes
    try:
        async with aiohttp.ClientSession() as session:
            tokens = await prepare.service_tokens(session, service, conn, queries, admin_token, notes)
            ceiling_target = Target(server=ceiling, read_token=str(loader.LARGE_TENANT),
                                    write_token=str(loader.WRITER_TENANT))
            service_target = Target(server=service, read_token=tokens[0] if tokens else "",
                                    write_token=tokens[1] if tokens else "")
            with_auth = [ceiling_target, service_target] if tokens else [ceiling_target]
            if tokens and any(SCENARIOS[key].streams for key in options.scenarios):
                service_target.stream_tokens = await prepare.stream_tokens(session, service, conn, queries,
                                                                    admin_token)
            for size in mode.sizes:
                await prepare.load_to(conn, tenants, queries, size, loaded, results["data"])
                loaded = size
                tenant_orders = await conn.fetchval(queries["bench_orders_count"], loader.LARGE_TENANT)
                depth = await prepare.deep_paths(session, with_auth, tenant_orders)
                entry = alternate(SCENARIOS["list_page"], with_auth, prepare.fixtures(tenants, []),
                                  connections=mode.growth_concurrency, rounds=mode.rounds,
                                  seconds=mode.seconds, warmup=mode.warmup, postgres=postgres)
                results["growth"].append({"orders": size, "tenant_orders": tenant_orders,
                                          "depth": depth, **entry})
            ids = [r["id"] for r in await conn.fetch(queries["bench_sample_order_ids"],
                                                     loader.LARGE_TENANT, 1000)]
            fixtures = prepare.fixtures(tenants, ids)
            if tokens:
                await api.check(session, service.url, f"/api/orders/{ids[0]}", token=tokens[0], status=200)
            results["data"]["orders"] = loaded
            results["data"]["tenant_orders"] = tenant_orders
            results["data"]["list_depth"] = depth
            if "subscriptions_page" in options.scenarios:
                await prepare.subscriptions(session, conn, tenants, queries, with_auth, mode.subscriptions,
                                     results["data"])
            for key in (k for k in options.scenarios if k in SCENARIOS):
                targets = [ceiling_target, service_target] if key == "ready" else with_auth
                if key in ("ops_overhead", "ops_overhead_list"):
                    if not tokens:
                        notes.append("ops_overhead skipped: it reads orders, which needs a token")
                        continue
                    if plain is None:
                        plain = start_service(dsn, admin_token=admin_token, log_level=options.log_level,
                                              name="plain", extra_env={**WITHOUT_OPS, **loop_env})
                    # Same database, so the same signing key: the service's tokens work on it.
                    targets = [service_target, dataclasses.replace(service_target, server=plain)]
                for connections in mode.concurrencies:
                    results["scenarios"].append(alternate(
                        SCENARIOS[key], targets, fixtures, connections=connections, rounds=mode.rounds,
                        seconds=mode.seconds, warmup=mode.warmup, postgres=postgres))
            if "webhooks" in options.scenarios:
                results["webhooks"] = await webhooks.measure(
                    service.url, conn, admin_token=admin_token, product_id=fixtures.product_id,
                    events=mode.webhook_events, lag_seconds=mode.webhook_lag_seconds)
            if options.profile:
                results["profile"] = profile.profile_scenarios(
                    dsn, admin_token, service_target if tokens else None, fixtures,
                    tuple(k for k in options.scenarios if k in SCENARIOS),
                    seconds=max(5.0, mode.seconds), connections=mode.concurrencies[0])
            if tokens:
                results["expiry"] = await _expiry(conn, dsn, tenants, queries, service_target,
                                                  fixtures, mode, postgres)
            else:
                notes.append("expiry run skipped: it measures the API's p99, which needs a token")
    finally:
        for server in (service, ceiling, plain):
            if server is not None:
                server.stop()
        await conn.close()
    results["data"]["service_log_mb"] = round(service.log.stat().st_size / 2**20, 1)
    return results


async def _expiry(conn, dsn, tenants, queries, target, fixtures, mode, postgres) -> dict:
    """Expired drafts loaded, then the job deletes them while GET order runs at the lower concurrency."""
    stats = await loader.load_orders(conn, tenants, mode.expiry_drafts, expired_drafts=True)
    await conn.execute("ANALYZE orders")
    expired = await conn.fetchval(queries["bench_count_expired_drafts"])
    logger.info("expiry: %d expired drafts loaded in %.1fs", expired, stats.seconds)
    load = SCENARIOS["get_order"].build(target, fixtures)
    connections = mode.concurrencies[0]
    idle = summarise([one_run(target, load, connections=connections, seconds=max(mode.seconds, 3),
                              postgres=postgres) for _ in range(mode.rounds)])
    pool = await database.create_pool(dsn, max_size=2)
    try:
        # Some load first, so the window measured is all "during".
        running = wrk.Run(connections=connections, seconds=EXPIRY_LOAD_LIMIT_SECONDS, **load)
        await asyncio.sleep(1.0)
        job_started = time.monotonic()
        done = await expiry.run(pool, queries)
        running.interrupt()
        during = running.wait()
        window = time.monotonic() - job_started
    finally:
        await pool.close()
    left = await conn.fetchval(queries["bench_count_expired_drafts"])
    result = {
        "source": done.source, "expired_loaded": expired, "deleted": done.deleted, "job_runs": done.runs,
        "left_after": left, "seconds": done.seconds,
        "drafts_per_second": round(expired / done.seconds) if done.seconds else None,
        "load": f"GET /api/orders/{{id}} at c={connections}",
        "idle": {"rps_median": idle["rps_median"], "p99_ms": idle["p99_ms"], "p50_ms": idle["p50_ms"]},
        "during": {"rps": during.rps, "p99_ms": during.p99_ms, "p50_ms": during.p50_ms,
                   "errors": during.errors, "window_seconds": round(window, 2)},
    }
    result["p99_ratio"] = round(during.p99_ms / idle["p99_ms"], 2) if idle["p99_ms"] else None
    logger.info("expiry: %s deleted %d in %.1fs; p99 %.1f ms during vs %.1f ms idle",
                done.source, expired - left, done.seconds, during.p99_ms, idle["p99_ms"])
    return result
