"""Where the service spends its CPU under each scenario: py-spy on the running process.

Run apart from the measured rounds (sampling slows the process a little). The
raw output is folded stacks; the summary groups samples by the package that
owns each frame and lists the hottest functions, by self and by total time.
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import threading

from bench import wrk
from bench.database import WORK_DIR
from bench.scenarios import SCENARIOS, Fixtures, Target

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")
_PACKAGES = ("service", "aiohttp", "marshmallow", "asyncpg", "yarl", "multidict", "json",
             "logging", "asyncio", "apscheduler", "uuid")


def _package(path: str) -> str:
    parts = path.replace("\\", "/").split("/")
    for name in _PACKAGES:
        if name in parts or parts[-1] == f"{name}.py" or parts[-1].startswith(f"{name}/"):
            return name
    return "other"


def summarise(folded: str, *, top: int = 12) -> dict:
    total = 0
    by_self: collections.Counter = collections.Counter()
    by_total: collections.Counter = collections.Counter()
    by_package: collections.Counter = collections.Counter()
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [f for f in stack.split(";") if f]
        names = []
        for frame in frames:
            match = _FRAME.match(frame)
            names.append((match["func"], match["file"]) if match else (frame, ""))
        if names:
            func, path = names[-1]
            by_self[f"{func} ({path.rsplit('/', 2)[-2:][-1]})"] += samples
            # The package where the time is really spent: the innermost frame
            # that belongs to a named package.
            owner = next((p for p in (_package(f) for _, f in reversed(names)) if p != "other"), "other")
            by_package[owner] += samples
        seen = set()
        for func, path in names:
            if "/service/" in path and (func, path) not in seen:
                seen.add((func, path))
                by_total[f"{func} ({path.split('/service/', 1)[-1]})"] += samples

    def share(counter: collections.Counter) -> list[list]:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(top)] if total else []

    return {"samples": total, "by_package_pct": share(by_package), "self_pct": share(by_self),
            "service_functions_total_pct": share(by_total)}


def profile_scenarios(target: Target | None, fixtures: Fixtures, keys: tuple[str, ...], *,
                      seconds: float, connections: int) -> dict:
    spy = shutil.which("py-spy")
    if spy is None:
        return {"skipped": "py-spy is not installed (pip install py-spy)"}
    if target is None:
        return {"skipped": "the service has no token routes yet"}
    found = {}
    for key in keys:
        out = WORK_DIR / f"profile-{key}.txt"
        command = [spy, "record", "--pid", str(target.server.pid), "--duration", str(int(seconds)),
                   "--rate", "200", "--format", "raw", "--nonblocking", "--output", str(out)]
        recorder = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        load = SCENARIOS[key].build(target, fixtures)
        # Load for as long as py-spy samples; wrk stops by itself.
        worker = threading.Thread(target=wrk.run, kwargs={"connections": connections,
                                                          "seconds": seconds + 1, **load})
        worker.start()
        output, _ = recorder.communicate(timeout=seconds + 60)
        worker.join()
        if recorder.returncode != 0 or not out.exists():
            found[key] = {"skipped": f"py-spy failed: {output.strip()[-300:]}"}
            continue
        found[key] = summarise(out.read_text())
    return found
