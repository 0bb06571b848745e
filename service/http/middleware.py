"""The one middleware: request id, API version, problem+json errors, access
log, request metrics and the rate-limit headers."""

from __future__ import annotations

import itertools
import json
import logging
import re
import secrets
import time

import asyncpg
from aiohttp import web
from asyncpg import exceptions as pg

from service import db
from service.errors import (
    DatabaseBusy,
    DatabaseUnavailable,
    MethodNotAllowed,
    NotFound,
    OrderBusy,
    PayloadTooLarge,
    ServiceError,
    ServiceUnavailable,
    UnsupportedApiVersion,
    ValidationFailed,
)
from service.logs import ACCESS_LOG
from service.metrics import UNMATCHED
from service.state import LIFECYCLE, METRICS, RATE_LIMIT, RATE_LIMITER, REQUEST_ID

logger = logging.getLogger("service.access")

PROBLEM_JSON = "application/problem+json"
access_log = ACCESS_LOG
# Generated ids: a random prefix per process and a counter, unique across
# replicas without a syscall per request (uuid4 reads /dev/urandom each time).
_ID_PREFIX = f"{secrets.token_hex(6)}-"
_ID_COUNTER = itertools.count(1)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_HTTP_CODES = {404: NotFound, 405: MethodNotAllowed, 413: PayloadTooLarge}
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A database restart takes a few seconds; a client retrying sooner only adds load.
DATABASE_RETRY_AFTER_SECONDS = 2
# Busy (a share of the pool, a row lock): what held it usually lets go within seconds.
BUSY_RETRY_AFTER_SECONDS = 1
OUTCOME_UNKNOWN = (
    "The database connection was lost while this change was being committed: it may or may not "
    "have been applied. Read the resource to find out, or send the request again with the same "
    "Idempotency-Key, which applies it at most once."
)


def problem_response(error: ServiceError, request_id: str) -> web.Response:
    body = {
        "type": f"/problems/{error.code}",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "code": error.code,
        "errors": error.errors,
        "requestId": request_id,
    }
    if error.oauth_error is not None:
        body["error"] = error.oauth_error
        body["error_description"] = error.detail
    response = web.Response(status=error.status, body=json.dumps(body).encode(), headers=error.headers)
    response.headers["Content-Type"] = PROBLEM_JSON
    if error.close_connection:
        response.force_close()
    return response


def database_unavailable(request: web.Request, exc: BaseException) -> DatabaseUnavailable:
    """The 503 for a database fault; a change that may have committed says so."""
    if isinstance(exc, db.OutcomeUnknown) and request.method not in _SAFE_METHODS:
        detail = OUTCOME_UNKNOWN
    else:
        detail = "The database is not available right now; try again in a moment"
    return DatabaseUnavailable(detail, headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})


def busy(request: web.Request, exc: BaseException) -> ServiceError:
    """The answer when a request waited too long for what another holds: a pooled
    connection (503 database_busy), or a row lock (a change: 409 order_busy)."""
    if isinstance(exc, pg.LockNotAvailableError) and request.method not in _SAFE_METHODS:
        return OrderBusy(
            "Another change holds this order (or an object this request changes); nothing was "
            "changed: retry in a moment",
            headers={"Retry-After": "1"},
        )
    return DatabaseBusy(
        "The database connections this request may use stayed busy; nothing was done: retry in a moment",
        headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
    )


def _from_http_exception(exc: web.HTTPException) -> ServiceError:
    kind = _HTTP_CODES.get(exc.status)
    if kind is not None:
        error = kind()
    else:
        error = ServiceError(exc.reason)
        error.status = exc.status
        error.code = re.sub(r"[^a-z0-9]+", "_", exc.reason.lower()).strip("_") or "http_error"
    if exc.status == 405 and "Allow" in exc.headers:
        error.headers["Allow"] = exc.headers["Allow"]
    return error


def error_answer(exc: Exception, request: web.Request) -> web.Response:
    """The problem+json answer to an exception a handler raised.

    The one mapping from exceptions to answers: problem_middleware uses it for
    every request, and the Idempotency-Key layer to store, before the commit,
    exactly the answer the client is about to get."""
    request_id = request[REQUEST_ID]
    if isinstance(exc, ServiceError):
        return problem_response(exc, request_id)
    if isinstance(exc, web.HTTPException):
        return problem_response(_from_http_exception(exc), request_id)
    if isinstance(exc, asyncpg.UndefinedTableError):
        # Started before its migrations ran (MIGRATE_ON_START=false): wait for them.
        logger.warning("the database is not migrated yet", extra={"request_id": request_id})
        return problem_response(
            ServiceUnavailable("The database is not migrated yet; run `python -m service migrate`"), request_id
        )
    if isinstance(exc, asyncpg.DataError):
        # Validation should have caught it; never pass database text to the client.
        logger.warning("value refused by the database", extra={"request_id": request_id}, exc_info=exc)
        return problem_response(ValidationFailed("A value in the request cannot be stored"), request_id)
    if isinstance(exc, db.PoolBusy | pg.LockNotAvailableError):
        logger.info("busy", extra={"request_id": request_id, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
        return problem_response(busy(request, exc), request_id)
    if db.unavailable(exc):
        logger.warning(
            "database unavailable",
            extra={"request_id": request_id, "error": f"{type(exc).__name__}: {str(exc)[:200]}"},
        )
        return problem_response(database_unavailable(request, exc), request_id)
    logger.error("unhandled error", extra={"request_id": request_id}, exc_info=exc)
    return problem_response(ServiceError(), request_id)


@web.middleware
async def problem_middleware(request: web.Request, handler) -> web.StreamResponse:
    started = time.perf_counter()
    sent_id = request.headers.get("X-Request-Id", "")
    request_id = sent_id if sent_id and _REQUEST_ID.match(sent_id) else f"{_ID_PREFIX}{next(_ID_COUNTER):x}"
    request[REQUEST_ID] = request_id
    try:
        version = request.headers.get("X-Api-Version")
        if version is not None and version.strip() != "3.0":
            raise UnsupportedApiVersion(f"X-Api-Version {version[:20]!r} is not supported; use 3.0")
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_answer(exc, request)
    except Exception as exc:
        response = error_answer(exc, request)
    headers = response.headers
    headers["X-Request-Id"] = request_id
    app = request.app
    verdict = request.get(RATE_LIMIT)
    if verdict is not None:
        headers["RateLimit-Policy"] = app[RATE_LIMITER].policy
        headers["RateLimit"] = verdict.header
    if app[LIFECYCLE].stopping:
        # Draining: clients holding a kept-alive connection open a new one,
        # which the load balancer sends to another replica.
        response.force_close()
    seconds = time.perf_counter() - started
    metrics = app[METRICS]
    if metrics is not None:
        resource = request.match_info.route.resource
        metrics.observe(
            request.method, UNMATCHED if resource is None else resource.canonical, response.status, seconds
        )
    access_log.write(
        method=request.method,
        path=request.path,
        status=response.status,
        duration_ms=round(seconds * 1000, 2),
        request_id=request_id,
    )
    return response
