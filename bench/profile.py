"""Where the service spends its CPU under each scenario: cProfile on a separate service process.

Run apart from the measured rounds, since deterministic profiling slows the
process severalfold: the numbers say where time goes, not how fast it is.
(py-spy cannot read this interpreter's build, so the profiler is the stdlib's,
with a CPU-time clock: see bench/profiled_service.py.)
"""

from __future__ import annotations

import pstats

from bench import wrk
from bench.database import WORK_DIR
from bench.scenarios import SCENARIOS, Fixtures, Target
from bench.servers import start_service

TOP = 15


def _where(path: str) -> str:
    for marker in ("/site-packages/", "/lib/python3", "/wt-bench/", "/service/"):
        if marker in path:
            return path.split(marker, 1)[1].split("/", 1)[-1] if marker.startswith("/lib") else path.split(marker, 1)[1]
    return path


def summarise(path) -> dict:
    stats = pstats.Stats(str(path))
    total = stats.total_tt or 1.0
    rows = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():
        rows.append((f"{_where(filename)}:{line}({name})", calls, tottime, cumtime))
    by_self = sorted(rows, key=lambda r: r[2], reverse=True)[:TOP]
    own = sorted((r for r in rows if r[0].startswith("service/")), key=lambda r: r[3], reverse=True)[:TOP]
    share = lambda r, i: [r[0], r[1], round(100 * r[i] / total, 1)]  # noqa: E731
    return {"profiled_seconds": round(total, 2),
            "self_pct": [share(r, 2) for r in by_self],
            "service_cumulative_pct": [share(r, 3) for r in own]}


def profile_scenarios(dsn: str, admin_token: str, target: Target | None, fixtures: Fixtures,
                      keys: tuple[str, ...], *, seconds: float, connections: int) -> dict:
    if target is None:
        return {"skipped": "the service has no token routes yet"}
    found = {}
    for key in keys:
        out = WORK_DIR / f"profile-{key}.prof"
        out.unlink(missing_ok=True)
        server = start_service(dsn, admin_token=admin_token, profile_to=out)
        try:
            profiled = Target(server=server, read_token=target.read_token,
                              write_token=target.write_token, list_path=target.list_path,
                              subscriptions_path=target.subscriptions_path)
            result = wrk.run(connections=connections, seconds=seconds,
                             **SCENARIOS[key].build(profiled, fixtures))
        finally:
            server.stop()
        if not out.exists():
            found[key] = {"skipped": "cProfile wrote no file"}
            continue
        found[key] = {"rps_under_profiler": result.rps, **summarise(out)}
    return found


def text(profiles: dict) -> str:
    lines = []
    for key, found in profiles.items():
        if "skipped" in found:
            lines.append(f"{key}: skipped ({found['skipped']})")
            continue
        lines.append(f"{key}: top self time (% of {found['profiled_seconds']} s profiled)")
        lines += [f"  {pct:5.1f}%  {calls:>8} calls  {name}" for name, calls, pct in found["self_pct"][:8]]
        lines.append("  service functions, cumulative:")
        lines += [f"  {pct:5.1f}%  {calls:>8} calls  {name}" for name, calls, pct in found["service_cumulative_pct"][:8]]
    return "\n".join(lines)
