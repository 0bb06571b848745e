"""wrk as the load generator: install check, Lua scripts with parameters, runs, parsing."""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from bench.database import WORK_DIR

LUA_DIR = Path(__file__).resolve().parent / "lua"
INSTALL_HINT = "wrk is not installed: on Debian/Ubuntu run `apt-get update && apt-get install -y wrk`"
# Every run stops by itself: wrk's own -d, and this margin on top for the process.
MARGIN_SECONDS = 30


class WrkError(RuntimeError):
    """wrk is missing or a run produced no result."""


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian when we are root and it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                raise WrkError(f"{INSTALL_HINT} ({' '.join(command)} failed: {done.stderr[-500:]})")
        found = shutil.which("wrk")
        if found:
            return found
    raise WrkError(INSTALL_HINT)


def _lua_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "{" + ", ".join(_lua_value(v) for v in value) + "}"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def build_script(name: str, template: str | None, params: Mapping[str, object]) -> Path:
    """Parameters as Lua globals, then the scenario's template, then the JSON reporter."""
    lines = [f"{key} = {_lua_value(value)}" for key, value in params.items()]
    parts = ["\n".join(lines)]
    if template:
        parts.append((LUA_DIR / template).read_text())
    parts.append((LUA_DIR / "report.lua").read_text())
    path = WORK_DIR / "lua" / f"{name}.lua"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts))
    return path


@dataclasses.dataclass(kw_only=True)
class Result:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # non-2xx/3xx answers plus socket errors
    flows: int
    cpu_seconds: float  # of wrk itself


def _parse(output: str, cpu_seconds: float) -> Result:
    for line in output.splitlines():
        if line.startswith("BENCH_JSON "):
            data = json.loads(line.removeprefix("BENCH_JSON "))
            break
    else:
        raise WrkError(f"wrk printed no result:\n{output[-2000:]}")
    seconds = data["duration_us"] / 1e6
    latency = data["latency_us"]
    return Result(
        requests=data["requests"],
        seconds=round(seconds, 3),
        rps=round(data["requests"] / seconds, 1) if seconds else 0.0,
        p50_ms=latency["p50"] / 1000, p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000, max_ms=latency["max"] / 1000,
        errors=sum(data["errors"].values()),
        flows=data["flows"],
        cpu_seconds=round(cpu_seconds, 3),
    )


class Run:
    """One wrk process; wait() for it, or interrupt() it early (wrk still reports)."""

    def __init__(self, *, url: str, script: Path, connections: int, seconds: float,
                 headers: Mapping[str, str] | None = None, threads: int = 1) -> None:
        command = [ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
                   "--timeout", "10s", "-s", str(script)]
        for key, value in (headers or {}).items():
            command += ["-H", f"{key}: {value}"]
        command.append(url)
        self._limit = seconds + MARGIN_SECONDS
        self._cpu_before = _children_cpu()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def interrupt(self) -> None:
        # wrk stops on SIGINT and still prints its summary (and runs done()).
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def wait(self) -> Result:
        try:
            output, _ = self.process.communicate(timeout=self._limit)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise WrkError(f"wrk did not stop within {self._limit:.0f}s") from None
        return _parse(output, _children_cpu() - self._cpu_before)


def _children_cpu() -> float:
    # wrk is our only child that gets reaped during a run, so the growth of
    # RUSAGE_CHILDREN across it is wrk's CPU time.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(**kwargs) -> Result:
    started = time.monotonic()
    result = Run(**kwargs).wait()
    if result.requests == 0 and time.monotonic() - started < 0.5:
        raise WrkError("wrk made no requests")
    return result
