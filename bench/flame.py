"""A flame graph of a server under load, sampled by py-spy from outside the process.

py-spy reads the interpreter's stacks without changing the process (unlike
cProfile, bench/profile.py, which slows it severalfold), so the graph shows
where a request's CPU time goes at full speed. python -m bench.variants --flame
records one for the first variant while wrk runs its scenario, and writes it
beside the results as flame-<stamp>.svg; the documentation's performance page
shows the newest.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

RATE = 250  # samples a second


class FlameError(RuntimeError):
    """py-spy is missing or recorded nothing."""


def py_spy() -> str:
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found is None:
        raise FlameError("py-spy is not installed: pip install -e '.[bench]'")
    return found


def record(pid: int, out: Path, *, seconds: float, title: str) -> Path:
    """Sample `pid` for `seconds` into the SVG `out` (py-spy must be allowed to read
    the process: root, or the same user with ptrace permitted)."""
    command = [
        py_spy(), "record", "--pid", str(pid), "--output", str(out), "--format", "flamegraph",
        "--duration", str(max(1, round(seconds))), "--rate", str(RATE),
    ]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0 or not out.exists():
        raise FlameError(f"py-spy failed after {time.monotonic() - started:.0f} s: {done.stderr[-500:]}")
    text = out.read_text()
    out.write_text(text.replace("<title>py-spy</title>", f"<title>{title}</title>", 1))
    return out
