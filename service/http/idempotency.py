"""Idempotency-Key: a POST under /api sent with a key is applied once, or not at all.

The first request with a key runs inside one transaction that also stores its
answer, so a request is applied with its answer stored, or not at all: a
process killed at any point, or a 5xx, leaves the key free and nothing done.
In that transaction, in this order:

1. `pg_try_advisory_xact_lock` on (reseller, credential, key): a key belongs
   to the clientId that sent it, and another credential with the same key runs
   its own request. Taken by another request with the key, on any replica, it
   answers 409 `idempotency_key_in_progress` at once, with Retry-After.
2. The stored answer, read after the lock is held (1 and 2 are one round
   trip: the SQL function idempotency_claim), if the key has an unexpired
   one: the same request (method, path, body as parsed JSON) gets it again,
   byte for byte, with `Idempotent-Replayed: true`; another request 422
   `idempotency_key_reused`.
3. Otherwise the handler, in a savepoint: its queries join the transaction
   through the Database's contextvar, and a statement that fails (a value the
   database refuses, mapped to 422) rolls back alone, so that 4xx is still
   stored. Its answer is made exactly as problem_middleware would make it,
   stored if below 500, and committed with the effect; a 5xx or an unexpected
   error rolls everything back (so does a wait for a busy pool or a held row:
   409 `order_busy` and 503 `database_busy` leave the key free). An answer
   whose body is over MAX_STORED_ANSWER_BYTES is sent whole and stored without
   its body: the request stays applied once, and a repeat gets the status and
   headers (Location) with an empty body.

An answer that shows a secret (an operation declared `answer_holds_secret`,
like the 201 of POST /api/webhooks) is stored sealed with SECRET_KEY, bound to
its row: reseller, credential and key (service.secretbox), and opened on replay.

A request without the header pays one header lookup. A call the credential is
not permitted to make at all (edition, scope) goes through untouched: nothing
can happen, so there is nothing to store, and another credential of the
reseller cannot read a stored answer through a key it may not use.
"""

from __future__ import annotations

import hashlib
import json
import re

import asyncpg
from aiohttp import web

from service.errors import IdempotencyKeyInProgress, IdempotencyKeyReused, InvalidIdempotencyKey, ServiceError
from service.http.middleware import error_answer
from service.limits import MAX_IDEMPOTENCY_KEY_LENGTH, MAX_STORED_ANSWER_BYTES
from service.secretbox import STORED_ANSWER, SecretBox, context, is_sealed
from service.state import DATABASE, PRINCIPAL, SECRET_BOX, SETTINGS

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_LENGTH = MAX_IDEMPOTENCY_KEY_LENGTH
KEY_PATTERN = f"^[\\x20-\\x7E]{{1,{MAX_KEY_LENGTH}}}$"
_KEY = re.compile(KEY_PATTERN)
# What a replay carries besides status and body.
STORED_HEADERS = ("Content-Type", "Location", "WWW-Authenticate")


class _Unstored(Exception):
    """A 5xx answer: roll the request back, store nothing, and send it."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def takes_key(method: str, path: str) -> bool:
    """Which operations take an Idempotency-Key: every POST under /api. The
    OpenAPI document asks this too, so it describes the requests handled here."""
    return method.upper() == "POST" and path.startswith("/api/")


def keyed(request: web.Request) -> bool:
    # PRINCIPAL: authenticated for /api (the public document and docs are GETs).
    return takes_key(request.method, request.path) and request.get(PRINCIPAL) is not None


def key_of(request: web.Request) -> str:
    values = request.headers.getall(HEADER)
    if len(values) != 1 or not _KEY.match(values[0]):
        raise InvalidIdempotencyKey(f"Send one {HEADER} of 1 to {MAX_KEY_LENGTH} printable ASCII characters")
    return values[0]


def fingerprint(method: str, path: str, body: bytes) -> bytes:
    """What "the same request" means: method, path and the body compared as
    parsed JSON (key order and whitespace do not matter), or its bytes when it
    is not JSON."""
    try:
        canonical = b"json:" + json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        canonical = b"raw:" + body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode("utf-8", "surrogateescape"), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


async def apply_once(request: web.Request, handler) -> web.StreamResponse:
    """Run `handler` for a request sent with an Idempotency-Key (service.http.access
    calls this once the caller is authenticated and within its rate limit)."""
    declared = getattr(request.match_info.handler, "endpoint", None)
    if declared is None:
        return await handler(request)  # no such route: 404/405, nothing to apply
    principal = request[PRINCIPAL]
    if declared.permission is not None and principal.denial(declared.permission) is not None:
        return await handler(request)  # refused before anything could happen
    key = key_of(request)
    body = await request.read()  # before a connection is taken: a slow upload holds none
    # Likewise what waits on the network (a webhook URL's DNS): before the transaction.
    await request.match_info.handler.prepare(request)
    try:
        return await _once(request, handler, key, fingerprint(request.method, request.path, body))
    except _Unstored as unstored:
        return unstored.response


async def _once(request: web.Request, handler, key: str, print_: bytes) -> web.Response:
    db = request.app[DATABASE]
    principal = request[PRINCIPAL]
    reseller, client = principal.reseller_id, principal.client_id
    async with db.transaction():
        stored = await db.fetchrow("idempotency_claim", reseller, client, key)
        if not stored["locked"]:
            raise _in_progress()
        if stored["fingerprint"] is not None:
            if bytes(stored["fingerprint"]) != print_:
                raise IdempotencyKeyReused(
                    f"This {HEADER} was sent with another request (method, path or body); use a new key"
                )
            # The row read may be one stored before keys were per credential (client_id '').
            ctx = context(STORED_ANSWER, reseller, stored["client_id"], key)
            return _replay(stored, request.app[SECRET_BOX], ctx)
        response = await _run(request, handler)
        headers = {name: response.headers[name] for name in STORED_HEADERS if name in response.headers}
        body = _body(response)
        if len(body) > MAX_STORED_ANSWER_BYTES:
            headers.pop("Content-Type", None)  # no body is kept to have a type
            body = b""
        stored_now = await db.fetchval(
            "idempotency_store",
            reseller,
            client,
            key,
            print_,
            response.status,
            headers,
            _sealed_if_secret(request, body, context(STORED_ANSWER, reseller, client, key)),
            request.app[SETTINGS].idempotency_ttl_seconds,
        )
        if stored_now is None:
            raise _in_progress()  # another request stored this key first: undo ours
        return response


async def _run(request: web.Request, handler) -> web.Response:
    try:
        async with request.app[DATABASE].transaction():  # a savepoint
            response = await handler(request)
    except (ServiceError, web.HTTPException, asyncpg.DataError) as exc:
        if isinstance(exc, web.HTTPException) and exc.status < 400:
            raise
        response = error_answer(exc, request)
    if response.status >= 500:
        raise _Unstored(response)
    return response


def _body(response: web.StreamResponse) -> bytes:
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes | None):
        # A streamed answer cannot be replayed; refuse rather than apply it unstored.
        raise TypeError(f"{HEADER}: the answer to a keyed request must be a plain body")
    return response.body or b""


def _sealed_if_secret(request: web.Request, body: bytes, ctx: bytes) -> bytes:
    if not request.match_info.handler.endpoint.answer_holds_secret:
        return body
    return request.app[SECRET_BOX].seal(body, ctx)


def _replay(stored: asyncpg.Record, box: SecretBox, ctx: bytes) -> web.Response:
    headers = {**stored["headers"], REPLAYED: "true"}
    body = bytes(stored["body"])
    if is_sealed(body):
        body = box.open(body, ctx)
    return web.Response(status=stored["status"], body=body or None, headers=headers)


def _in_progress() -> IdempotencyKeyInProgress:
    return IdempotencyKeyInProgress(
        f"A request with this {HEADER} is still running; retry after it ends",
        headers={"Retry-After": "1"},
    )
