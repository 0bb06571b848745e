"""WORKERS > 1: several `serve` processes share one port (SO_REUSEPORT, the
kernel spreads connections) and one database. The parent starts the embedded
PostgreSQL if any and migrates once, then only supervises: it forwards SIGTERM
and SIGINT, and stops everything if a worker dies on its own.

Metrics: the workers keep their Prometheus values in files of a directory the
parent makes for this run (PROMETHEUS_MULTIPROC_DIR), so whichever worker
answers GET /metrics reports the totals of all; the parent removes it at the end."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from prometheus_client import multiprocess

from service.metrics import MULTIPROC_ENV
from service.secretbox import key_text

logger = logging.getLogger(__name__)


def run_workers(*, count: int, dsn: str, secret_key: bytes) -> int:
    # A fresh directory: files left by an earlier run would be counted again.
    metrics_dir = tempfile.mkdtemp(prefix="reseller-ordering-metrics-")
    try:
        return _supervise(count=count, dsn=dsn, secret_key=secret_key, metrics_dir=metrics_dir)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _supervise(*, count: int, dsn: str, secret_key: bytes, metrics_dir: str) -> int:
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        # The embedded default's key lives in DATA_DIR, which the workers do not read.
        "SECRET_KEY": key_text(secret_key),
        "WORKERS": "1",
        "REUSE_PORT": "true",
        "MIGRATE_ON_START": "false",  # done once, by the parent
        MULTIPROC_ENV: metrics_dir,
    }
    children = [subprocess.Popen([sys.executable, "-m", "service", "serve"], env=env) for _ in range(count)]
    stopping = False

    def forward(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    logger.info("workers started", extra={"workers": count, "pids": [c.pid for c in children]})
    dead: set[int] = set()
    while len(dead) < len(children):
        for child in children:
            if child.pid not in dead and child.poll() is not None:
                dead.add(child.pid)
                # Its pool is gone: its connections leave the summed pool gauge.
                multiprocess.mark_process_dead(child.pid, metrics_dir)
        if not stopping and dead:
            logger.error("a worker exited on its own; stopping the others")
            forward(signal.SIGTERM, None)
        time.sleep(0.2)
    # A worker still starting when the signal came dies of it before its own
    # handler is installed: that is the stop we asked for, not a failure.
    asked = (0, -signal.SIGTERM, -signal.SIGINT)
    return 0 if stopping and all(child.returncode in asked for child in children) else 1
