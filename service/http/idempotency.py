"""Idempotency-Key: a POST under /api sent with a key is applied once, or not at all.

The first request with a key runs inside one transaction that also stores its
answer, so a request is applied with its answer stored, or not at all: a
process killed at any point, or a 5xx, leaves the key free and nothing done.
A request that runs one statement takes three round trips (a plain one takes
one): the scripts of sql/queries/idempotency.sql, simple queries of several
statements each, begin and end the transaction around the handler's own.

1. `idempotency_open`: BEGIN; the key's `pg_try_advisory_xact_lock` (the
   SQL function idempotency_claim, 0013): a key belongs to the clientId that
   sent it, and another credential with the same key runs its own request.
   Taken by another request with the key, on any replica, it answers 409
   `idempotency_key_in_progress` at once, with Retry-After. Then whether the
   key has an unexpired answer, read after the lock is held: the same request
   (method, path, body as parsed JSON) gets it again, byte for byte, with
   `Idempotent-Replayed: true`; another request 422 `idempotency_key_reused`.
   Otherwise the key's row is taken, to hold the answer (a row another
   transaction holds is waited for here, before the handler does anything).
   A script takes no parameters, so it names the key by a digest the service
   computes (key_digest), never by the client's text.
2. Otherwise the handler: its queries join the transaction through the
   Database's contextvar, and so do its own transaction() blocks, without
   savepoints of their own (a savepoint around the handler would make every
   keyed write a subtransaction).
3. `idempotency_store`: its answer, made exactly as problem_middleware would
   make it, written into the key's row if below 500, and COMMIT. Nothing in
   this last round trip waits: once it is sent, the request is applied with
   its answer (or, should the server fail it, neither); until then, nothing.
   A refusal the handler raised (a 4xx, even one the database refused, mapped
   to 422) goes through `idempotency_store_refusal` instead: what the handler
   did is rolled back, key row and lock with it, and the refusal stored in a
   transaction of its own if the key can be claimed again. Only in between
   could another request with the key slip in; it is applied and its answer
   kept, and this refusal, of a request that applied nothing, is sent
   unstored. A 5xx or an unexpected error rolls everything back (so does a
   wait for a busy pool or a held row: 409 `order_busy` and 503
   `database_busy` leave the key free). An answer whose body is over
   MAX_STORED_ANSWER_BYTES is sent whole and stored without its body: the
   request stays applied once, and a repeat gets the status and headers
   (Location) with an empty body.

The answer is stored packed: its headers and body, deflated (pack_answer). An
answer that shows a secret (an operation declared `answer_holds_secret`, like
the 201 of POST /api/webhooks) is stored sealed with SECRET_KEY, bound to its
row by the key's digest (service.secretbox.answer_context), and opened on
replay. Answers stored before 0013 (headers and body in their own columns,
bound to clientId and key) are replayed as they are until they expire.

A request without the header pays one header lookup. A call the credential is
not permitted to make at all (edition, scope) goes through untouched: nothing
can happen, so there is nothing to store, and another credential of the
reseller cannot read a stored answer through a key it may not use.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib

import asyncpg
from aiohttp import web

from service.errors import IdempotencyKeyInProgress, IdempotencyKeyReused, InvalidIdempotencyKey, ServiceError
from service.http.middleware import error_answer
from service.limits import MAX_IDEMPOTENCY_KEY_LENGTH, MAX_STORED_ANSWER_BYTES
from service.secretbox import SecretBox, answer_context, is_sealed
from service.state import DATABASE, PRINCIPAL, SECRET_BOX, SETTINGS

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_LENGTH = MAX_IDEMPOTENCY_KEY_LENGTH
KEY_PATTERN = f"^[\\x20-\\x7E]{{1,{MAX_KEY_LENGTH}}}$"
_KEY = re.compile(KEY_PATTERN)
# What a replay carries besides status and body.
STORED_HEADERS = ("Content-Type", "Location", "WWW-Authenticate")
# How idempotency_open's claim went (the row count of its last statement).
_ANSWERED, _HELD_ELSEWHERE = 1, 2
_WINDOW_BITS = 12  # a 4 KiB window: a raw deflate stream (no zlib header)


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


def key_digest(reseller_id: int, client_id: str, key: str) -> bytes:
    """What names a key in the database (0013): sha256 of the reseller's id, the
    clientId, a NUL and the key. Neither a clientId nor a key holds a NUL."""
    return hashlib.sha256(
        reseller_id.to_bytes(8, "big", signed=True) + client_id.encode() + b"\x00" + key.encode()
    ).digest()


def pack_answer(headers: dict[str, str], body: bytes) -> bytes:
    """A stored answer (0013): its headers as a JSON line, then its body, deflated
    (a small window: answers are small, and a compressor's set-up is most of its cost)."""
    deflate = zlib.compressobj(6, zlib.DEFLATED, -_WINDOW_BITS, 4)
    return deflate.compress(json.dumps(headers).encode() + b"\n" + body) + deflate.flush()


def unpack_answer(packed: bytes) -> tuple[dict[str, str], bytes]:
    headers, _, body = zlib.decompress(packed, -_WINDOW_BITS).partition(b"\n")
    return json.loads(headers), body


async def _once(request: web.Request, handler, key: str, print_: bytes) -> web.Response:
    db = request.app[DATABASE]
    principal = request[PRINCIPAL]
    reseller = principal.reseller_id
    digest = key_digest(reseller, principal.client_id, key)
    legacy = key_digest(reseller, "", key)  # an answer stored before keys were per credential
    named = {
        "reseller_id": reseller,
        "digest": digest,
        "legacy": legacy,
        "lock_high": int.from_bytes(digest[:4], "big", signed=True),
        "lock_low": int.from_bytes(digest[4:8], "big", signed=True),
        "fingerprint": print_,
        "ttl_seconds": request.app[SETTINGS].idempotency_ttl_seconds,
    }
    async with db.scripted(db.script("idempotency_open", **named)) as transaction:
        claimed = int(transaction.status.rpartition(" ")[2])
        if claimed == _HELD_ELSEWHERE:
            raise _in_progress()
        if claimed == _ANSWERED:
            stored = await db.fetchrow("idempotency_stored", reseller, digest, legacy)
            if bytes(stored["fingerprint"]) != print_:
                raise IdempotencyKeyReused(
                    f"This {HEADER} was sent with another request (method, path or body); use a new key"
                )
            ctx = answer_context(reseller, stored["digest"], stored["client_id"], stored["key"])
            return _replay(stored, request.app[SECRET_BOX], ctx)
        response, refused = await _run(request, handler)
        headers = {name: response.headers[name] for name in STORED_HEADERS if name in response.headers}
        body = _body(response)
        if len(body) > MAX_STORED_ANSWER_BYTES:
            headers.pop("Content-Type", None)  # no body is kept to have a type
            body = b""
        answer = pack_answer(headers, body)
        if request.match_info.handler.endpoint.answer_holds_secret:
            answer = request.app[SECRET_BOX].seal(answer, answer_context(reseller, digest, None, None))
        await transaction.end(
            db.script(
                "idempotency_store_refusal" if refused else "idempotency_store",
                **named,
                status=response.status,
                answer=answer,
            )
        )
        return response


async def _run(request: web.Request, handler) -> tuple[web.Response, bool]:
    """The handler's answer, and whether it raised it (a refusal, to be undone before it is stored)."""
    try:
        response, refused = await handler(request), False
    except (ServiceError, web.HTTPException, asyncpg.DataError) as exc:
        if isinstance(exc, web.HTTPException) and exc.status < 400:
            raise
        response, refused = error_answer(exc, request), True
    if response.status >= 500:
        raise _Unstored(response)
    return response, refused


def _body(response: web.StreamResponse) -> bytes:
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes | None):
        # A streamed answer cannot be replayed; refuse rather than apply it unstored.
        raise TypeError(f"{HEADER}: the answer to a keyed request must be a plain body")
    return response.body or b""


def _replay(stored: asyncpg.Record, box: SecretBox, ctx: bytes) -> web.Response:
    body = bytes(stored["body"])
    if is_sealed(body):
        body = box.open(body, ctx)
    if stored["headers"] is None:  # stored since 0013: packed
        headers, body = unpack_answer(body)
    else:
        headers = stored["headers"]
    return web.Response(status=stored["status"], body=body or None, headers={**headers, REPLAYED: "true"})


def _in_progress() -> IdempotencyKeyInProgress:
    return IdempotencyKeyInProgress(
        f"A request with this {HEADER} is still running; retry after it ends",
        headers={"Retry-After": "1"},
    )
