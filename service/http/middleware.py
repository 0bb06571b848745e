"""The one middleware: request id, API version, problem+json errors, access log."""

from __future__ import annotations

import itertools
import json
import logging
import re
import secrets
import time

import asyncpg
from aiohttp import web

from service.errors import (
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    ServiceUnavailable,
    UnsupportedApiVersion,
    ValidationFailed,
)
from service.logs import AccessLog
from service.state import REQUEST_ID

logger = logging.getLogger("service.access")

PROBLEM_JSON = "application/problem+json"
access_log = AccessLog()
# Generated ids: a random prefix per process and a counter, unique across
# replicas without a syscall per request (uuid4 reads /dev/urandom each time).
_ID_PREFIX = f"{secrets.token_hex(6)}-"
_ID_COUNTER = itertools.count(1)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_HTTP_CODES = {404: NotFound, 405: MethodNotAllowed, 413: PayloadTooLarge}


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
    return response


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


def error_answer(exc: Exception, request_id: str) -> web.Response:
    """The problem+json answer to an exception a handler raised.

    The one mapping from exceptions to answers: problem_middleware uses it for
    every request, and the Idempotency-Key layer to store, before the commit,
    exactly the answer the client is about to get."""
    if isinstance(exc, ServiceError):
        return problem_response(exc, request_id)
    if isinstance(exc, web.HTTPException):
        return problem_response(_from_http_exception(exc), request_id)
    if isinstance(exc, (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError)):
        # Started before its migrations ran (MIGRATE_ON_START=false): wait for them.
        logger.warning("the database schema is not current", extra={"request_id": request_id})
        return problem_response(
            ServiceUnavailable("The database is not migrated yet; run `python -m service migrate`"), request_id
        )
    if isinstance(exc, asyncpg.DataError):
        # Validation should have caught it; never pass database text to the client.
        logger.warning("value refused by the database", extra={"request_id": request_id}, exc_info=exc)
        return problem_response(ValidationFailed("A value in the request cannot be stored"), request_id)
    if isinstance(exc, (asyncpg.PostgresConnectionError, asyncpg.TooManyConnectionsError, OSError, TimeoutError)):
        logger.warning("database unavailable", extra={"request_id": request_id}, exc_info=exc)
        return problem_response(ServiceUnavailable("The database is not reachable"), request_id)
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
        response = error_answer(exc, request_id)
    except Exception as exc:
        response = error_answer(exc, request_id)
    response.headers["X-Request-Id"] = request_id
    access_log.write(
        method=request.method,
        path=request.path,
        status=response.status,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
        request_id=request_id,
    )
    return response
