"""Helpers to run `python -m service ...` as a real process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.keys import SECRET_KEY_TEXT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(**extra: str) -> dict[str, str]:
    """The environment of a service process; SECRET_KEY is the tests' own unless given
    (an empty one leaves it unset)."""
    unset = ("DATABASE_URL", "ADMIN_TOKEN", "PORT", "SECRET_KEY", "OLD_SECRET_KEY")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env["SECRET_KEY"] = SECRET_KEY_TEXT
    env.update(extra)
    if not env["SECRET_KEY"]:
        del env["SECRET_KEY"]
    return env


def start(args: list[str], *, env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "service", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def wait_for_status(
    url: str, expected: int, *, within: float, process: subprocess.Popen | None = None
) -> float:
    """Poll url until it answers `expected`; return how long that took."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if status(url) == expected:
            return time.monotonic() - started
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"process exited with {process.returncode}: {err[-2000:]}")
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer {expected} within {within}s")


async def serve(dsn: str, **extra: str) -> tuple[subprocess.Popen, str]:
    """`python -m service serve` on the test's database, as a replica runs it,
    once it answers ready: (the process, its base URL)."""
    port = free_port()
    env = service_env(
        DATABASE_URL=dsn,
        PORT=str(port),
        HOST="127.0.0.1",
        POLL_INTERVAL_SECONDS="0.1",
        SHUTDOWN_DRAIN_SECONDS="0",
        LOG_LEVEL="WARNING",
        **extra,
    )
    process = start(["serve"], env=env)
    url = f"http://127.0.0.1:{port}"
    await asyncio.to_thread(wait_for_status, f"{url}/health/ready", 200, within=30, process=process)
    return process, url


async def stop(processes: list[subprocess.Popen], *, expect_clean: bool = True) -> None:
    """SIGTERM each process still running and wait for it; a clean stop exits 0 and logs no error."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            _, err = await asyncio.to_thread(process.communicate, timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
        if expect_clean:
            assert process.returncode == 0, err
            assert '"level": "error"' not in err, err
