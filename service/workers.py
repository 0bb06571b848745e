"""WORKERS > 1: several `serve` processes share one port (SO_REUSEPORT, the
kernel spreads connections) and one database. The parent starts the embedded
PostgreSQL if any and migrates once, then only supervises: it forwards SIGTERM
and SIGINT, and stops everything if a worker dies on its own."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

logger = logging.getLogger(__name__)


def run_workers(*, count: int, dsn: str) -> int:
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "WORKERS": "1",
        "REUSE_PORT": "true",
        "MIGRATE_ON_START": "false",  # done once, by the parent
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
    while any(child.poll() is None for child in children):
        if not stopping and any(child.poll() is not None for child in children):
            logger.error("a worker exited on its own; stopping the others")
            forward(signal.SIGTERM, None)
        time.sleep(0.2)
    # A worker still starting when the signal came dies of it before its own
    # handler is installed: that is the stop we asked for, not a failure.
    asked = (0, -signal.SIGTERM, -signal.SIGINT)
    return 0 if stopping and all(child.returncode in asked for child in children) else 1
