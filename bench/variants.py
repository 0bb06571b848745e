"""python -m bench.variants: one request on variants of the service's settings, side by side.

Where `python -m bench` compares the service with its ceiling scenario by
scenario, this answers one narrower question per run: what does a setting
cost on the hot path? Each variant is `python -m service serve` with some
environment on top of the benchmark's defaults (`EVENT_LOOP=uvloop`,
`METRICS_ENABLED=false`, ...); the ceiling runs beside them on each event loop
asked for. Every round runs every server once (wrk, c=32, GET order of the
large tenant, or with --scenario list_page its deep list page, or a write flow, after one
unrecorded warm-up round); with --without-events every server is measured
again after order_events is emptied. The report gives, per
server, the median req/s, its ratio to the first ceiling, and the median CPU
time of the server process per answered request, which is steadier than req/s
on a machine shared with PostgreSQL and wrk.

    python -m bench.variants uvloop:EVENT_LOOP=uvloop --ceilings asyncio,uvloop
    python -m bench.variants "bare:METRICS_ENABLED=false,RATE_LIMIT_PER_MINUTE=0,LOG_LEVEL=WARNING"
    python -m bench.variants defaults --scenario list_page --without-events

Results go to bench/results/variants-<UTC timestamp>.json (unless --no-write).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import secrets
import statistics
import time
from pathlib import Path

import aiohttp
import psutil

from bench import database, flame, loader, prepare, servers, wrk
from bench.report import RESULTS_DIR
from bench.sampler import cpu_seconds
from bench.scenarios import SCENARIOS, Target

ORDERS = 40_000
RESELLERS = 100
FLAME_SECONDS = 20


@dataclasses.dataclass
class Variant:
    name: str
    env: dict[str, str]


def _variant(spec: str) -> Variant:
    name, _, settings = spec.partition(":")
    env = dict(pair.split("=", 1) for pair in settings.split(",") if pair)
    return Variant(name=name, env=env)


def _measure(target: Target, fixtures, scenario: str, seconds: float) -> dict:
    process = psutil.Process(target.server.pid)
    before = sum(process.cpu_times()[:2])
    postgres_before = cpu_seconds(database.postgres_processes())
    result = wrk.run(connections=32, seconds=seconds, **SCENARIOS[scenario].build(target, fixtures))
    cpu = sum(process.cpu_times()[:2]) - before
    postgres_after = cpu_seconds(database.postgres_processes())
    # A backend that came or went during the run counts what it used while seen.
    postgres = sum(t - postgres_before.get(pid, t) for pid, t in postgres_after.items())
    return {
        "rps": result.rps,
        "cpu_us_per_request": 1e6 * cpu / max(result.requests, 1),
        "postgres_us_per_request": 1e6 * postgres / max(result.requests, 1),
        "errors": result.errors,
    }


async def run(
    variants: list[Variant],
    ceilings: list[str],
    *,
    scenario: str,
    rounds: int,
    seconds: float,
    without_events: bool,
    flame_to: Path | None = None,
) -> dict:
    with database.postgres() as server_dsn:
        queries = database.bench_queries()
        dsn = await database.recreate_database(server_dsn)
        await database.apply_migrations(dsn)
        conn = await loader.connect(dsn)
        tenants = await loader.load_tenants(conn, resellers=RESELLERS)
        await prepare.load_to(conn, tenants, queries, ORDERS, 0, {"loads": []})
        ids = [
            r["id"] for r in await conn.fetch(queries["bench_sample_order_ids"], loader.LARGE_TENANT, 1000)
        ]
        fixtures = prepare.fixtures(tenants, ids)
        admin_token = secrets.token_urlsafe(16)
        targets: list[tuple[str, Target]] = []
        try:
            for loop in ceilings:
                server = servers.start_ceiling(dsn, event_loop=loop)
                targets.append(
                    (
                        f"ceiling-{loop}",
                        Target(
                            server=server,
                            read_token=str(loader.LARGE_TENANT),
                            write_token=str(loader.WRITER_TENANT),
                        ),
                    )
                )
            tokens = None
            for variant in variants:
                server = servers.start_service(
                    dsn, admin_token=admin_token, name=variant.name, extra_env=variant.env
                )
                if tokens is None:
                    async with aiohttp.ClientSession() as session:
                        tokens = await prepare.service_tokens(session, server, conn, queries, admin_token, [])
                targets.append((variant.name, Target(server=server, read_token=tokens[0], write_token=tokens[1])))
            if scenario == "list_page":
                async with aiohttp.ClientSession() as session:
                    tenant_orders = await conn.fetchval(queries["bench_orders_count"], loader.LARGE_TENANT)
                    await prepare.deep_paths(session, [target for _, target in targets], tenant_orders)
            runs: dict[str, list[dict]] = {}
            phases = [""]
            if without_events:
                phases.append(" without events")
            for phase in phases:
                if phase:
                    # The same servers and data, the events table emptied: what it costs the reads.
                    await conn.execute("TRUNCATE order_events CASCADE")
                    await conn.execute("VACUUM ANALYZE")
                for round_ in range(rounds + 1):
                    for name, target in targets:
                        measured = _measure(target, fixtures, scenario, seconds)
                        if round_:  # round 0 warms every server up
                            runs.setdefault(name + phase, []).append(measured)
                            print(
                                f"{name + phase:>24} {measured['rps']:8.0f} req/s "
                                f"{measured['cpu_us_per_request']:6.1f} µs CPU/request "
                                f"{measured['postgres_us_per_request']:6.1f} µs PostgreSQL/request",
                                flush=True,
                            )
            flame = None
            if flame_to is not None:
                name, target = next((n, t) for n, t in targets if n == variants[0].name)
                flame = _flame(target, fixtures, scenario, flame_to, title=f"{scenario}: {name}")
        finally:
            for _, target in targets:
                target.server.stop()
            await conn.close()
    base = statistics.median(r["rps"] for r in runs[targets[0][0]])
    summary = {}
    for name, measured in runs.items():
        rps = statistics.median(r["rps"] for r in measured)
        summary[name] = {
            "rps_median": round(rps, 1),
            "vs_first_ceiling": round(rps / base, 3),
            "cpu_us_per_request_median": round(
                statistics.median(r["cpu_us_per_request"] for r in measured), 1
            ),
            "postgres_us_per_request_median": round(
                statistics.median(r["postgres_us_per_request"] for r in measured), 1
            ),
            "errors": sum(r["errors"] for r in measured),
            "runs": measured,
        }
    return {
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "orders": ORDERS,
        "scenario": scenario,
        "rounds": rounds,
        "seconds": seconds,
        "connections": 32,
        "variants": {v.name: v.env for v in variants},
        "summary": summary,
        **({"flame": flame} if flame_to is not None else {}),
    }


def _flame(target: Target, fixtures, scenario: str, out: Path, *, title: str) -> dict:
    """py-spy's flame graph of the server while wrk runs the scenario at c=32."""
    load = wrk.Run(connections=32, seconds=FLAME_SECONDS + 2, **SCENARIOS[scenario].build(target, fixtures))
    try:
        time.sleep(1.0)  # the load first: every sample is of a server under it
        flame.record(target.server.pid, out, seconds=FLAME_SECONDS, title=title)
    finally:
        load.interrupt()
        done = load.wait()
    return {"svg": out.name, "server": title, "seconds": FLAME_SECONDS, "rps_while_sampled": done.rps}


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.variants",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("variants", nargs="+", help="NAME[:SETTING=VALUE,...]; NAME alone: the defaults")
    parser.add_argument("--ceilings", default="asyncio", help="event loops to run the ceiling on")
    parser.add_argument(
        "--scenario", choices=("get_order", "list_page", "write_flow", "write_flow_keyed"), default="get_order"
    )
    parser.add_argument(
        "--without-events",
        action="store_true",
        help="then empty order_events and measure every server again",
    )
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument(
        "--flame",
        action="store_true",
        help="then record py-spy's flame graph of the first variant under the load (flame-<stamp>.svg)",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    flame_to = None
    if args.flame:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        flame_to = (database.WORK_DIR if args.no_write else RESULTS_DIR) / f"flame-{stamp}.svg"
    results = asyncio.run(
        run(
            [_variant(v) for v in args.variants],
            args.ceilings.split(","),
            scenario=args.scenario,
            rounds=args.rounds,
            seconds=args.seconds,
            without_events=args.without_events,
            flame_to=flame_to,
        )
    )
    print()
    print("| server | req/s (median) | vs first ceiling | CPU µs per request | PostgreSQL µs per request |")
    print("|---|---|---|---|---|")
    for name, row in results["summary"].items():
        print(
            f"| {name} | {row['rps_median']:,.0f} | {row['vs_first_ceiling']:.2f}× | "
            f"{row['cpu_us_per_request_median']:.1f} | {row['postgres_us_per_request_median']:.1f} |"
        )
    if flame_to is not None:
        print(f"flame graph: {flame_to}")
    if not args.no_write:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"variants-{stamp}.json"
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"results: {path}")


if __name__ == "__main__":
    main()
