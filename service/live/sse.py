"""The Server-Sent Events wire format (WHATWG HTML, "Server-sent events").

One message per event: `id:` the feed cursor after it (a cursor GET /api/events
accepts, so a client can switch between streaming and polling), `event:` its
type, `data:` its JSON on one line (JSON escapes every line break inside a
string, so one `data:` line always holds the whole event)."""

from __future__ import annotations

import orjson

from service.domain import representations as rep
from service.domain.events import Position
from service.http.requests import feed_cursor

CONTENT_TYPE = "text/event-stream"
KEEPALIVE = b": keepalive\n\n"
# How long EventSource waits before it reconnects after the stream ends.
RETRY_MILLISECONDS = 2000


def position_of(row) -> Position:
    return int(row["feed_xid"]), row["id"]


def message(row) -> bytes:
    """The SSE message of one order_events row."""
    cursor = feed_cursor(position_of(row))
    data = orjson.dumps(rep.event(row))
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (cursor.encode(), row["type"].encode(), data)


def opening(position: Position, *, resumed: bool) -> bytes:
    """The first lines of a stream: the reconnection delay and, for a stream that
    starts now, where that is, as an id without data. EventSource dispatches
    nothing for it but remembers the id, so a client that loses the connection
    before the first event still resumes from where it began. A resumed stream
    sends no id: the client has it already, and the id of the event named in
    Last-Event-ID must not come back."""
    if resumed:
        return b"retry: %d\n\n" % RETRY_MILLISECONDS
    return b"retry: %d\nid: %s\n\n" % (RETRY_MILLISECONDS, feed_cursor(position).encode())
