"""Targets judged, the JSON written, and the summary table (plain text and Markdown)."""

from __future__ import annotations

import json
from pathlib import Path

from bench import webhooks

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# The speed issue's bar: GET order at least 0.85x the bare stack, the list pages 0.9x,
# the plain write flow 0.85x its fair ceiling (the same rows written).
RATIO_TARGETS = {"get_order": 0.85, "list_page": 0.9, "subscriptions_page": 0.9, "write_flow": 0.85}
# Issue 22: a retry-safe write flow (a new Idempotency-Key on every POST) at 0.75x the plain one,
# and the CPU time of a GET order at most 1.15x the ceiling's.
KEYED_TARGET = 0.75
CPU_TARGET = 1.15
GROWTH_TARGET = 1.2
EXPIRY_SECONDS_TARGET = 60.0  # for 1,000,000 expired drafts (the full run)
EXPIRY_TARGET = 2.0
RSS_TARGET_MB = 150
STREAMS_TARGET = 0.95
OPS_COST_TARGET_PCT = 10.0


def _target(name: str, value, limit: str, met) -> dict:
    return {"target": name, "value": value, "limit": limit, "met": met}


def judge(results: dict) -> list[dict]:
    """The issue's targets, each with the measured value; None where it was not measured."""
    judged = []
    by_key: dict[str, list[dict]] = {}
    for entry in results["scenarios"]:
        by_key.setdefault(entry["key"], []).append(entry)
    for key, label in (("get_order", "GET order vs ceiling PK read"),
                       ("list_page", "list page vs ceiling keyset page"),
                       ("subscriptions_page", "subscriptions page vs ceiling keyset page"),
                       ("write_flow", "write flow vs its fair ceiling (the same rows)")):
        ratios = [e["ratio"] for e in by_key.get(key, []) if "ratio" in e]
        worst = min(ratios) if ratios else None
        bar = RATIO_TARGETS[key]
        judged.append(_target(label, worst, f">= {bar}x (worst concurrency)",
                              None if worst is None else worst >= bar))
    keyed = [w["keyed_vs_plain"] for w in writes(results) if w["keyed_vs_plain"] is not None]
    worst = min(keyed) if keyed else None
    judged.append(_target("write flow with an Idempotency-Key on every POST vs without", worst,
                          f">= {KEYED_TARGET}x (worst concurrency)", None if worst is None else worst >= KEYED_TARGET))
    cpu = [e["cpu_ratio"] for e in by_key.get("get_order", []) if e.get("cpu_ratio") is not None]
    worst = max(cpu) if cpu else None
    judged.append(_target("CPU time per GET order vs the ceiling's", worst,
                          f"<= {CPU_TARGET}x (worst concurrency)", None if worst is None else worst <= CPU_TARGET))
    plain = {e["concurrency"]: e["service"] for e in by_key.get("get_order", []) if "service" in e}
    streamed = {e["concurrency"]: e["service"] for e in by_key.get("get_order_streams", []) if "service" in e}
    shared = sorted(set(plain) & set(streamed))
    worst = min((round(streamed[c]["rps_median"] / plain[c]["rps_median"], 3) for c in shared
                 if plain[c]["rps_median"]), default=None)
    judged.append(_target("GET order with 200 open event streams vs without", worst,
                          f">= {STREAMS_TARGET}x (worst concurrency)",
                          None if worst is None else worst >= STREAMS_TARGET))
    growth = [g for g in results["growth"] if "service" in g]
    if len(growth) >= 2:
        first, last = growth[0]["service"]["p99_ms"], growth[-1]["service"]["p99_ms"]
        ratio = round(last / first, 2) if first else None
        judged.append(_target(f"list p99 at {growth[-1]['orders']:,} vs {growth[0]['orders']:,} orders",
                              ratio, f"<= {GROWTH_TARGET}x", None if ratio is None else ratio <= GROWTH_TARGET))
    else:
        judged.append(_target("list p99 growth", None, f"<= {GROWTH_TARGET}x", None))
    expiry = results.get("expiry")
    ratio = expiry.get("p99_ratio") if expiry else None
    judged.append(_target("API p99 during expiry vs idle", ratio, f"<= {EXPIRY_TARGET}x",
                          None if ratio is None else ratio <= EXPIRY_TARGET))
    if expiry and expiry.get("expired_loaded", 0) >= 1_000_000:
        seconds = expiry.get("seconds")
        judged.append(_target(f"seconds to delete {expiry['expired_loaded']:,} expired drafts", seconds,
                              f"< {EXPIRY_SECONDS_TARGET:g}", None if seconds is None else seconds < EXPIRY_SECONDS_TARGET))
    for key, label in (("ops_overhead", "GET order"), ("ops_overhead_list", "list page")):
        costs = [e["ops_cost_pct"] for e in by_key.get(key, []) if "ops_cost_pct" in e]
        worst_cost = max(costs) if costs else None
        judged.append(_target(f"{label} throughput lost to metrics + rate limits (%)", worst_cost,
                              f"<= {OPS_COST_TARGET_PCT} (the speed budget, shared)",
                              None if worst_cost is None else worst_cost <= OPS_COST_TARGET_PCT))
    rss = [e["service"]["rss_server_mb"] for e in results["scenarios"] if "service" in e]
    peak = max(rss) if rss else None
    judged.append(_target("RSS of the service process (MB, peak)", peak, f"< {RSS_TARGET_MB}",
                          None if peak is None else peak < RSS_TARGET_MB))
    return judged


def writes(results: dict) -> list[dict]:
    """The write flows side by side, per concurrency: plain and keyed, each against the
    fair ceiling (which ignores the key), and keyed against plain."""
    plain = {e["concurrency"]: e for e in results["scenarios"] if e["key"] == "write_flow"}
    keyed = {e["concurrency"]: e for e in results["scenarios"] if e["key"] == "write_flow_keyed"}
    rows = []
    for c in sorted(set(plain) | set(keyed)):
        p, k = plain.get(c, {}), keyed.get(c, {})
        p_rps = p["service"]["rps_median"] if "service" in p else None
        k_rps = k["service"]["rps_median"] if "service" in k else None
        rows.append({
            "concurrency": c, "plain": p_rps, "plain_ratio": p.get("ratio"), "keyed": k_rps,
            "keyed_ratio": k.get("ratio"),
            "ceiling": p["ceiling"]["rps_median"] if "ceiling" in p else None,
            "keyed_vs_plain": round(k_rps / p_rps, 3) if p_rps and k_rps else None,
        })
    return rows


def write_json(results: dict, stamp: str) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    return path


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def failed_requests(results: dict) -> list[str]:
    """Scenario rows where a server answered with errors: their figures do not compare."""
    return [f"{e['key']} c={e['concurrency']} {name}: {e[name]['errors']} errors"
            for e in results["scenarios"] for name in ("service", "ceiling", "plain")
            if e.get(name) and e[name]["errors"]]


def markdown(results: dict) -> str:
    """The tables a run prints: scenarios, growth, expiry, targets."""
    lines = ["| scenario | c | service req/s (spread) | ceiling req/s | service/ceiling | "
             "service p50 / p99 ms | ceiling p99 ms | CPU cores service / PG / wrk / whole machine | "
             "errors service / ceiling |",
             "|---|---|---|---|---|---|---|---|---|"]
    for e in results["scenarios"]:
        s, c = e.get("service"), e.get("ceiling")
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            e["key"], e["concurrency"],
            f"{_fmt(s['rps_median'], 0)} (±{_fmt(s['rps_spread_pct'], 0)}%)" if s else "—",
            _fmt(c["rps_median"], 0) if c else "—",
            f"{e['ratio']:.2f}×" if "ratio" in e else "—",
            f"{_fmt(s['p50_ms'])} / {_fmt(s['p99_ms'])}" if s else "—",
            _fmt(c["p99_ms"]) if c else "—",
            (f"{s['cpu_server']:.2f} / {s['cpu_postgres']:.2f} / {s['cpu_wrk']:.2f} / "
             f"{_fmt(s.get('cpu_machine'), 2)}") if s else "—",
            " / ".join(str(t["errors"]) if t else "—" for t in (s, c))))
    for e in results["scenarios"]:
        if "plain" in e and "service" in e:
            s, p = e["service"], e["plain"]
            lines.append(f"\n{e['title']} at c={e['concurrency']}: {_fmt(s['rps_median'], 0)} req/s "
                         f"(p99 {_fmt(s['p99_ms'])} ms) on vs {_fmt(p['rps_median'], 0)} req/s "
                         f"(p99 {_fmt(p['p99_ms'])} ms) off: {_fmt(e.get('ops_cost_pct'))}% of throughput.")
    if writes(results):
        lines += ["", ("| write flow, c | plain req/s | fair ceiling req/s | plain/ceiling | keyed req/s | "
                       "keyed/ceiling | keyed/plain |"), "|---|---|---|---|---|---|---|"]
        for w in writes(results):
            lines.append(f"| {w['concurrency']} | {_fmt(w['plain'], 0)} | {_fmt(w['ceiling'], 0)} | "
                         f"{_fmt(w['plain_ratio'], 2)} | {_fmt(w['keyed'], 0)} | {_fmt(w['keyed_ratio'], 2)} | "
                         f"{_fmt(w['keyed_vs_plain'], 2)} |")
    if results["growth"]:
        lines += ["", "| orders | tenant orders | page depth | service list req/s | service p99 ms | "
                  "ceiling req/s | ceiling p99 ms |", "|---|---|---|---|---|---|---|"]
        for g in results["growth"]:
            s, c = g.get("service"), g.get("ceiling")
            lines.append(f"| {g['orders']:,} | {g['tenant_orders']:,} | {g['depth']:,} | "
                         f"{_fmt(s['rps_median'], 0) if s else '—'} | {_fmt(s['p99_ms']) if s else '—'} | "
                         f"{_fmt(c['rps_median'], 0)} | {_fmt(c['p99_ms'])} |")
    expiry = results.get("expiry")
    if expiry:
        lines += ["", f"Expiry ({expiry['source']}): {expiry['deleted'] if expiry['deleted'] >= 0 else '?'} "
                  f"of {expiry['expired_loaded']:,} expired drafts deleted in {expiry['seconds']:.1f} s "
                  f"({_fmt(expiry['drafts_per_second'], 0)}/s); {expiry['load']} p99 "
                  f"{expiry['during']['p99_ms']:.1f} ms during vs {expiry['idle']['p99_ms']:.1f} ms idle "
                  f"({_fmt(expiry['p99_ratio'], 2)}×)."]
    if results.get("webhooks"):
        lines += webhooks.markdown(results["webhooks"])
    lines += ["", "| target | measured | limit | met |", "|---|---|---|---|"]
    for t in results["targets"]:
        met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
        lines.append(f"| {t['target']} | {_fmt(t['value'], 2)} | {t['limit']} | {met} |")
    return "\n".join(lines)
