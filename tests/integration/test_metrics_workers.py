"""WORKERS=2: whichever worker answers GET /metrics reports the totals of both."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import urllib.request
from pathlib import Path

from tests.metrics_support import Scrape
from tests.process import free_port, service_env, start, wait_for_status


def _get(url: str) -> tuple[str, str]:
    """(body, the answering worker's request-id prefix); a new connection each time."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode(), response.headers["X-Request-Id"].split("-")[0]


def test_any_worker_answers_the_sum_of_all_workers(dsn):
    port = free_port()
    process = start(
        ["serve"],
        env=service_env(
            DATABASE_URL=dsn, PORT=str(port), HOST="127.0.0.1", WORKERS="2", SHUTDOWN_DRAIN_SECONDS="0"
        ),
    )
    base = f"http://127.0.0.1:{port}"
    children: list[str] = []
    try:
        wait_for_status(f"{base}/health/live", 200, within=30, process=process)
        children += Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        environ = Path(f"/proc/{children[0]}/environ").read_bytes().split(b"\0")
        metrics_dir = Path(
            next(v for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR=")).split(b"=", 1)[1].decode()
        )
        assert metrics_dir.is_dir()
        # Until both workers have answered some of our requests (the kernel picks).
        served_by: dict[str, int] = {}
        deadline = time.monotonic() + 30
        while len(served_by) < 2 or sum(served_by.values()) < 40:
            assert time.monotonic() < deadline, served_by
            _, worker = _get(f"{base}/health/live")
            served_by[worker] = served_by.get(worker, 0) + 1
        total = sum(served_by.values()) + 1  # and the readiness poll of wait_for_status
        # Scrape until both workers have answered a scrape: each must report the same totals.
        answers: dict[str, Scrape] = {}
        while len(answers) < 2:
            assert time.monotonic() < deadline
            body, worker = _get(f"{base}/metrics")
            answers[worker] = Scrape(body)
        for worker, found in answers.items():
            live = found.value("http_requests_total", method="GET", route="/health/live", status="200")
            assert live == total, (worker, live, served_by)
            # Both pools, summed over the live workers.
            assert found.value("db_pool_connections", state="idle") + found.value(
                "db_pool_connections", state="in_use"
            ) >= 2
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        assert process.returncode == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in children)
        # The run's metric files go with it: the next run must not count them again.
        assert not metrics_dir.exists()
    finally:
        if process.poll() is None:
            # The workers too: they hold our pipes, and communicate() would wait for them.
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            process.kill()
        process.communicate()
