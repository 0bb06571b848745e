"""The measured scenarios, and rounds that alternate ceiling and service under the same load."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import statistics
from collections.abc import Callable

import psutil

from bench import wrk
from bench.sampler import Sampler
from bench.servers import Server
from bench.streams import STREAMS, Holder

logger = logging.getLogger("bench")


@dataclasses.dataclass(kw_only=True)
class Target:
    """One server under test, with what its requests need: its own tokens and cursor."""

    server: Server
    read_token: str  # the large tenant's
    write_token: str  # the writer tenant's
    list_path: str = "/api/orders?stage=All&pageSize=50"
    subscriptions_path: str = "/api/subscriptions?pageSize=50"
    stream_tokens: list[str] = dataclasses.field(default_factory=list)  # the service's only


@dataclasses.dataclass(frozen=True, kw_only=True)
class Fixtures:
    """Ids every target shares: both servers read the same rows."""

    order_ids: list[int]
    writer_account_id: int
    product_id: int
    cycle: str = "Monthly"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Scenario:
    key: str
    title: str
    build: Callable[[Target, Fixtures], dict]  # -> wrk.Run keyword arguments but timing
    streams: int = 0  # open event streams held on the service while it runs


def _get(key: str, path: str) -> Callable[[Target, Fixtures], dict]:
    def build(target: Target, fixtures: Fixtures) -> dict:
        script = wrk.build_script(
            f"{key}-{target.server.name}", "get.lua",
            {"TOKEN": target.read_token, "PATH": path, "IDS": fixtures.order_ids},
        )
        return {"url": target.server.url, "script": script}
    return build


def _list(target: Target, fixtures: Fixtures) -> dict:
    script = wrk.build_script(f"list-{target.server.name}", None, {})
    return {"url": target.server.url + target.list_path, "script": script,
            "headers": {"Authorization": f"Bearer {target.read_token}"}}


def _subscriptions(target: Target, fixtures: Fixtures) -> dict:
    script = wrk.build_script(f"subscriptions-{target.server.name}", None, {})
    return {"url": target.server.url + target.subscriptions_path, "script": script,
            "headers": {"Authorization": f"Bearer {target.read_token}"}}


def _write(*, keyed: bool) -> Callable[[Target, Fixtures], dict]:
    """The write flow; keyed: a new Idempotency-Key on every POST (the ceiling ignores it)."""
    def build(target: Target, fixtures: Fixtures) -> dict:
        script = wrk.build_script(
            f"write{'-keyed' if keyed else ''}-{target.server.name}", "write.lua",
            {"TOKEN": target.write_token, "ACCOUNT_ID": fixtures.writer_account_id,
             "PRODUCT_ID": fixtures.product_id, "CYCLE": fixtures.cycle,
             "KEYED": keyed, "KEY_PREFIX": secrets.token_hex(4)},
        )
        return {"url": target.server.url, "script": script}
    return build


def _ready(target: Target, fixtures: Fixtures) -> dict:
    script = wrk.build_script(f"ready-{target.server.name}", None, {})
    return {"url": target.server.url + "/health/ready", "script": script}


SCENARIOS = {
    s.key: s
    for s in (
        Scenario(key="get_order", title="GET /api/orders/{id}", build=_get("get_order", "/api/orders/%d")),
        Scenario(key="get_order_streams", title=f"GET /api/orders/{{id}}, {STREAMS} event streams open",
                 build=_get("get_order_streams", "/api/orders/%d"), streams=STREAMS),
        Scenario(key="list_page", title="GET /api/orders?stage=All&pageSize=50 (deep cursor)", build=_list),
        Scenario(key="subscriptions_page", title="GET /api/subscriptions?pageSize=50 (deep cursor)",
                 build=_subscriptions),
        Scenario(key="exec_status", title="GET /api/orders/{id}/execute/status",
                 build=_get("exec_status", "/api/orders/%d/execute/status")),
        Scenario(key="write_flow", title="POST draft -> POST item -> POST checkout", build=_write(keyed=False)),
        Scenario(key="write_flow_keyed", title="the write flow with a new Idempotency-Key on every POST",
                 build=_write(keyed=True)),
        Scenario(key="ready", title="GET /health/ready", build=_ready),
        # The service as configured (metrics on, rate limiter taking a token per
        # request) against the same service with both off: what they cost.
        Scenario(key="ops_overhead", title="GET /api/orders/{id}, metrics and rate limits on vs off",
                 build=_get("ops_overhead", "/api/orders/%d")),
        Scenario(key="ops_overhead_list", title="the list page, metrics and rate limits on vs off",
                 build=_list),
    )
}


def one_run(target: Target, load: dict, *, connections: int, seconds: float,
            postgres: Callable[[], list[psutil.Process]]) -> dict:
    if target.server.process.poll() is not None:
        tail = target.server.log.read_text(errors="replace")[-1500:]
        raise RuntimeError(f"{target.server.name} exited ({target.server.process.returncode}):\n{tail}")
    sampler = Sampler({"server": target.server.processes, "postgres": postgres})
    sampler.start()
    try:
        result = wrk.run(connections=connections, seconds=seconds, **load)
    finally:
        usage = sampler.stop()
    return {
        **dataclasses.asdict(result),
        "cpu_us_per_request": round(1e6 * usage["server"].cpu_seconds / result.requests, 1)
        if result.requests else None,
        "cpu_server": usage["server"].cpu_cores,
        "cpu_postgres": usage["postgres"].cpu_cores,
        "cpu_wrk": round(result.cpu_seconds / result.seconds, 3) if result.seconds else 0.0,
        "rss_server_mb": usage["server"].rss_peak_mb,
        "cpu_machine": sampler.machine_cores,
    }


def summarise(runs: list[dict]) -> dict:
    """Median and spread over rounds; errors summed; RSS the peak of all."""
    rps = [r["rps"] for r in runs]
    median = statistics.median
    return {
        "rounds": len(runs),
        "rps_median": round(median(rps), 1),
        "rps_min": min(rps),
        "rps_max": max(rps),
        "rps_spread_pct": round(100 * (max(rps) - min(rps)) / median(rps), 1) if median(rps) else None,
        "p50_ms": round(median(r["p50_ms"] for r in runs), 2),
        "p99_ms": round(median(r["p99_ms"] for r in runs), 2),
        "p99_ms_worst": round(max(r["p99_ms"] for r in runs), 2),
        "errors": sum(r["errors"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "flows": sum(r["flows"] for r in runs),
        "cpu_us_per_request": _median_of(runs, "cpu_us_per_request"),
        "cpu_server": round(median(r["cpu_server"] for r in runs), 2),
        "cpu_postgres": round(median(r["cpu_postgres"] for r in runs), 2),
        "cpu_wrk": round(median(r["cpu_wrk"] for r in runs), 2),
        "cpu_machine": round(median(r.get("cpu_machine", 0.0) for r in runs), 2),
        "rss_server_mb": max(r["rss_server_mb"] for r in runs),
        "runs": runs,
    }


def _median_of(runs: list[dict], field: str) -> float | None:
    values = [r[field] for r in runs if r.get(field) is not None]
    return round(statistics.median(values), 1) if values else None


def alternate(scenario: Scenario, targets: list[Target], fixtures: Fixtures, *, connections: int,
              rounds: int, seconds: float, warmup: float,
              postgres: Callable[[], list[psutil.Process]]) -> dict:
    """A B A B …: each round runs every target once with the same load."""
    holders = [t for t in targets if t.stream_tokens] if scenario.streams else []
    holder = Holder(holders[0].server.url, scenario.streams, holders[0].stream_tokens) if holders else None
    try:
        entry = _alternate(scenario, targets, fixtures, connections=connections, rounds=rounds,
                           seconds=seconds, warmup=warmup, postgres=postgres)
    finally:
        read = holder.stop() if holder else None
    if holder:
        entry["streams"] = {"open": scenario.streams, "holder": read}
    return entry


def _alternate(scenario: Scenario, targets: list[Target], fixtures: Fixtures, *, connections: int,
               rounds: int, seconds: float, warmup: float,
               postgres: Callable[[], list[psutil.Process]]) -> dict:
    loads = {t.server.name: scenario.build(t, fixtures) for t in targets}
    if warmup:
        for target in targets:
            wrk.run(connections=connections, seconds=warmup, **loads[target.server.name])
    runs: dict[str, list[dict]] = {t.server.name: [] for t in targets}
    for number in range(rounds):
        for target in targets:
            run = one_run(target, loads[target.server.name], connections=connections,
                          seconds=seconds, postgres=postgres)
            runs[target.server.name].append(run)
            logger.info("%-12s c=%-3d round %d %-7s %8.1f req/s  p99 %7.2f ms  errors %d",
                        scenario.key, connections, number + 1, target.server.name, run["rps"],
                        run["p99_ms"], run["errors"])
    summary = {name: summarise(found) for name, found in runs.items()}
    entry = {"key": scenario.key, "title": scenario.title, "concurrency": connections, **summary}
    if "ceiling" in summary and "service" in summary and summary["ceiling"]["rps_median"]:
        entry["ratio"] = round(summary["service"]["rps_median"] / summary["ceiling"]["rps_median"], 3)
        service_cpu, ceiling_cpu = summary["service"]["cpu_us_per_request"], summary["ceiling"]["cpu_us_per_request"]
        if service_cpu and ceiling_cpu:
            # CPU time of the server process per answered request: steadier than req/s on a shared machine.
            entry["cpu_ratio"] = round(service_cpu / ceiling_cpu, 3)
    if "plain" in summary and "service" in summary and summary["plain"]["rps_median"]:
        # Throughput lost to metrics and rate limiting, in percent of the service without them.
        entry["ops_cost_pct"] = round(
            100 * (1 - summary["service"]["rps_median"] / summary["plain"]["rps_median"]), 1)
    return entry
