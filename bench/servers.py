"""The two servers under load, as real processes: the service and the ceiling."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from bench import database
from bench.database import WORK_DIR
from bench.streams import STREAMS

READY_WITHIN_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclasses.dataclass(kw_only=True)
class Server:
    name: str  # "service" or "ceiling"
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def processes(self) -> list[psutil.Process]:
        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    while time.monotonic() < deadline:
        if _status(f"{server.url}/health/ready") == 200:
            return
        if server.process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{tail}")
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{server.name} was not ready within {READY_WITHIN_SECONDS:.0f}s; see {server.log}")


# The ceiling's pool, and the connections the one reseller the harness drives may hold in the service's.
CEILING_POOL_SIZE = 10
# The rate limiter runs on every request (its cost is part of what is measured)
# but never refuses: the harness sends thousands of requests a second with one token.
RATE_LIMIT_NEVER_REACHED = "1000000"
# The service with metrics and rate limiting turned off, for the ops_overhead scenario.
WITHOUT_OPS = {"METRICS_ENABLED": "false", "RATE_LIMIT_PER_MINUTE": "0"}
# What the harness changes of the defaults a user runs, and why: the results and the
# documentation's performance page state them.
SERVICE_SETTINGS: dict[str, tuple[str, str]] = {
    "RATE_LIMIT_PER_MINUTE": (
        RATE_LIMIT_NEVER_REACHED, "the limiter takes a token on every request but never refuses the harness"
    ),
    "EXPIRE_INTERVAL_SECONDS": ("86400", "the harness runs the expiry job itself, when it measures it"),
    "POLL_INTERVAL_SECONDS": (
        "86400", "the write flows measure requests; executing the orders they check out is the poll job's"
    ),
    "WEBHOOK_ALLOW_PRIVATE_URLS": ("true", "the webhooks scenario's receiver listens on 127.0.0.1"),
    "SSE_MAX_STREAMS_PER_RESELLER": (str(STREAMS), f"the streams scenario holds {STREAMS} streams of one reseller"),
    "MIGRATE_ON_START": ("false", "the harness migrates the database before it starts anything"),
    "DB_POOL_MAX_SIZE": (
        str(2 * CEILING_POOL_SIZE),
        (
            "the harness drives one reseller, and one reseller holds at most half of a process's pool: "
            f"with 20 it holds {CEILING_POOL_SIZE} connections, as many as the ceiling's pool; at the default 10 "
            "it holds 5, which python -m bench.variants defaults pool10:DB_POOL_MAX_SIZE=10 compares"
        ),
    ),
}


def service_settings() -> tuple[dict[str, str], dict[str, str]]:
    """The settings (name -> value) and why each is changed, for the results."""
    return ({name: value for name, (value, _) in SERVICE_SETTINGS.items()},
            {name: why for name, (_, why) in SERVICE_SETTINGS.items()})


def start_service(dsn: str, *, admin_token: str, log_level: str | None = None,
                  profile_to: Path | None = None, name: str = "service",
                  extra_env: dict[str, str] | None = None) -> Server:
    """`python -m service serve` with the defaults a user runs, except SERVICE_SETTINGS."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATA_DIR", "SQL_DIR")}
    env.update(
        DATABASE_URL=dsn,
        SECRET_KEY=database.SECRET_KEY_TEXT,
        PORT=str(port),
        HOST="127.0.0.1",
        ADMIN_TOKEN=admin_token,
    )
    env.update(service_settings()[0])
    env.update(extra_env or {})
    if log_level:
        env["LOG_LEVEL"] = log_level
    command = [sys.executable, "-m", "service", "serve"]
    if profile_to is not None:
        command = [sys.executable, "-m", "bench.profiled_service", str(profile_to)]
    return _start(name, command, env, port)


def start_ceiling(dsn: str, *, pool_size: int = CEILING_POOL_SIZE, event_loop: str = "asyncio") -> Server:
    port = free_port()
    command = [sys.executable, "-m", "bench.ceiling", "--dsn", dsn, "--port", str(port),
               "--pool-size", str(pool_size), "--event-loop", event_loop]
    return _start("ceiling", command, dict(os.environ), port)


def _start(name: str, command: list[str], env: dict[str, str], port: int) -> Server:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    log = WORK_DIR / f"{name}.log"
    # A file, not a pipe: a full pipe would stall the server mid-run. The
    # service logs one JSON line per request at the default level; that cost is
    # part of what a user runs.
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parent.parent,
        )
    server = Server(name=name, process=process, port=port, log=log)
    _wait_ready(server)
    return server
