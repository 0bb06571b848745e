"""GET /api/events/stream: the reseller's events as they commit, as Server-Sent Events."""

from __future__ import annotations

from aiohttp import web

from service import errors as e
from service.auth import READS, bearer
from service.http.endpoint import endpoint
from service.http.requests import feed_position, query_id
from service.live import sse
from service.routes.events import event_type
from service.state import LIVE_HUB, PRINCIPAL, REQUEST_ID

routes = web.RouteTableDef()

DESCRIPTION = """\
One message per event, in the order of `GET /api/events`:
`id:` the feed cursor after that event, `event:` its type, `data:` the event's JSON on one line.
An `id` is a cursor `GET /api/events?cursor=` takes, and a feed cursor resumes the stream, so a
client can switch between polling and streaming without missing or repeating an event.

* **Where it starts.** After `Last-Event-ID` (sent by EventSource when it reconnects), else
  after `cursor`, else now. It first sends `retry:`; a stream that starts now also sends an
  `id:` without data, its starting point, so a client disconnected before the first event
  still resumes from there. A resumed stream never sends the id it was resumed from again.
* **Filters.** `orderId` and `type` only select messages; the `id` of each is still a feed cursor.
* **Keepalive.** A comment line `: keepalive` whenever nothing else was sent for
  `SSE_KEEPALIVE_SECONDS` (15 by default; never longer).
* **When it ends.** The server ends a stream when its access token expires, its credential is
  revoked, after `SSE_MAX_STREAM_SECONDS` (an hour by default), when the server stops, and when
  the client reads so slowly that more than `SSE_QUEUE_SIZE` events wait for it. Reconnect with
  `Last-Event-ID`: nothing is lost.
* **Limits.** At most `SSE_MAX_STREAMS_PER_CREDENTIAL` (20 by default) open streams per
  credential and `SSE_MAX_STREAMS_PER_RESELLER` (100 by default) per reseller on each server;
  one more answers 429 `too_many_streams` with `Retry-After`.

Every replica streams every event within a second of its commit, whichever replica wrote it.
`Accept: text/event-stream` is expected but not required. Send the token in `Authorization`,
never in the URL: EventSource cannot send that header, so browsers read the stream with
`fetch()`."""


@routes.get("/api/events/stream")
@endpoint(
    permission=READS,
    summary="The reseller's events as they commit (Server-Sent Events)",
    tag="Events",
    returns={"type": "string", "description": "messages of the text/event-stream format"},
    media_type=sse.CONTENT_TYPE,
    returns_description="A stream of events that stays open",
    example="EventStream",
    query=("type", "orderIdFilter", "cursor"),
    request_headers=("Last-Event-ID",),
    errors=(e.TooManyStreams,),
    description=DESCRIPTION,
)
async def event_stream(request: web.Request) -> web.StreamResponse:
    query = request.query
    wanted = event_type(query)
    order_id = query_id(query, "orderId")
    resume = request.headers.get("Last-Event-ID") or query.get("cursor")
    cursor = feed_position(resume) if resume else None
    headers = {
        "Content-Type": sse.CONTENT_TYPE,
        "Cache-Control": "no-store",
        # Proxies such as nginx would otherwise hold messages back.
        "X-Accel-Buffering": "no",
        "X-Request-Id": request[REQUEST_ID],
    }
    if request.method == "HEAD":  # what a GET would answer, without opening a stream
        return web.Response(headers=headers)
    principal = request[PRINCIPAL]
    hub = request.app[LIVE_HUB]
    after = cursor if cursor is not None else await hub.now()
    sub = hub.subscribe(
        reseller_id=principal.reseller_id,
        client_id=principal.client_id,
        token=bearer(request) or "",
        after=after,
        order_id=order_id,
        event_type=wanted,
    )
    try:
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        sub.is_gone = lambda: request.transport is None or request.transport.is_closing()
        sub.abort = lambda: request.transport is not None and request.transport.abort()
        await hub.pump(sub, response, resumed=cursor is not None)
    finally:
        hub.unsubscribe(sub)
    return response
