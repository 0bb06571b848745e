"""`@endpoint`: what a route needs, takes and answers, in one place.

It runs the contract's order of checks for every route the same way:
authentication (401, service.http.access), then the tenant scope of the ids in
the path (404), then edition and scope (403), then the body (400/413/415/422),
then what only the handler's guarded statement can tell (412, 409). The happy
path pays for none of the lookups: only when a call is refused at 403 or 422
does the route's `exists` check run first, so that another reseller's id still
answers 404. GET routes declared with `etag=True` answer an ETag of their body
and 304 for a matching If-None-Match.

A route that waits on the network for its body (a webhook URL's host is
resolved) declares `prepare(request, data)`: the Idempotency-Key layer calls
it before it opens the keyed transaction, so no connection is held while it
waits (service.http.idempotency); the handler then finds the result on the
request. Without a key no transaction is open around the handler anyway.

The same declaration documents the operation (service.http.openapi reads
`handler.endpoint`), so the document cannot describe checks the code does not
make.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from service import errors as e
from service.auth import Permission
from service.domain.representations import etag_of_body, tag_matches
from service.http.requests import load, read_json
from service.state import PRINCIPAL

Handler = Callable[..., Awaitable[web.StreamResponse]]
Exists = Callable[[web.Request], Awaitable[None]]
Prepare = Callable[[web.Request, Any], Awaitable[None]]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Doc:
    """How the OpenAPI document describes one operation."""

    summary: str
    tag: str
    description: str = ""
    status: int = 200
    returns: Any = None  # a response schema class, or {"type": "array", "items": class}; None: no body
    returns_description: str = "OK"
    media_type: str = "application/json"  # of the success response's body
    body: Any = None  # the request schema the handler loads with
    body_required: bool = True  # False: a request without a body is the empty object
    form: bool = False  # the body is application/x-www-form-urlencoded, not JSON
    query: tuple[str, ...] = ()
    request_headers: tuple[str, ...] = ()  # header parameters it reads (components in openapi.py)
    errors: tuple[type[e.ServiceError], ...] = ()
    field_codes: tuple[str, ...] = ()  # `errors[].code` of its own 422s, beyond those of its body/query
    headers: tuple[str, ...] = ()  # response headers besides X-Request-Id
    database: bool = True  # it reads the database, so it can answer 503
    example: str | None = None  # a key of EXAMPLES when the response's own does not fit
    permission: Permission | None = None
    etag: bool = False  # GET: answers an ETag, takes If-None-Match
    if_match: str = ""  # a write taking If-Match: whose tag it compares ("the order's", ...)
    answer_holds_secret: bool = False  # a stored copy of its answer is sealed (service.http.idempotency)

    @staticmethod
    def _key(schema: Any) -> str:
        return schema.__name__ if isinstance(schema, type) else schema["items"].__name__ + "List"

    @property
    def example_key(self) -> str:
        return self.example or self._key(self.returns)

    @property
    def body_example_key(self) -> str:
        return self._key(self.body)


def endpoint(
    *,
    permission: Permission | None = None,
    body: Any = None,
    exists: Exists | None = None,
    etag: bool = False,
    prepare: Prepare | None = None,
    **doc: Any,
) -> Callable[[Handler], Handler]:
    """Wrap a handler; with a JSON `body` schema the handler is called as handler(request, data)."""
    # A form body (the token endpoint) is only documented; its handler reads it.
    parsed = body is not None and not doc.get("form", False)
    many = isinstance(body, dict)  # {"type": "array", "items": Schema}: a JSON list of them
    schema = (body["items"]() if many else body()) if parsed else None
    described = Doc(body=body, permission=permission, etag=etag, **doc)

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            refusal = request[PRINCIPAL].denial(permission) if permission is not None else None
            if schema is not None:
                data = None
                if refusal is None:
                    try:
                        if described.body_required or request.body_exists:
                            data = load(schema, await read_json(request), many=many or None)
                        else:
                            data = {}
                    except (e.ServiceError, web.HTTPRequestEntityTooLarge) as exc:
                        refusal = exc
                if refusal is not None:
                    if exists is not None:
                        await exists(request)  # 404 first: a foreign id is missing for everyone
                    raise refusal
                return await handler(request, data)
            if refusal is not None:
                if exists is not None:
                    await exists(request)
                raise refusal
            response = await handler(request)
            if etag:
                return _tagged(request, response)
            return response

        async def prepare_request(request: web.Request) -> None:
            """The network waits of a request that will be served: nothing for one
            the checks will refuse (they run again, in order, in the handler)."""
            if prepare is None or schema is None:
                return
            if permission is not None and request[PRINCIPAL].denial(permission) is not None:
                return
            try:
                data = load(schema, await read_json(request), many=many or None)
            except (e.ServiceError, web.HTTPRequestEntityTooLarge):
                return
            await prepare(request, data)

        run.endpoint = described  # type: ignore[attr-defined]
        run.prepare = prepare_request  # type: ignore[attr-defined]
        return run

    return decorate


def _tagged(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    if not isinstance(response, web.Response) or response.status != 200 or response.body is None:
        return response
    tag = etag_of_body(response.body)  # type: ignore[arg-type]
    response.headers["ETag"] = tag
    wanted = request.headers.get("If-None-Match")
    if wanted is not None and tag_matches(wanted, tag, weak=True):
        return web.Response(status=304, headers={"ETag": tag})
    return response


def if_match(request: web.Request) -> str | None:
    """The If-Match header of a write, for its guarded statement to compare under its lock."""
    return request.headers.get("If-Match")
