"""The events trail: one order's events, and the reseller's feed."""

from __future__ import annotations

from aiohttp import web

from service import lifecycle
from service.auth import READS
from service.http.endpoint import endpoint
from service.http.requests import (
    feed_cursor,
    feed_position,
    field_error,
    id_after,
    page,
    page_size,
    path_id,
    query_id,
)
from service.http.responses import json_response
from service.routes.orders import ORDER, order_exists
from service.schemas import orders as o
from service.state import PRINCIPAL, SERVICES

routes = web.RouteTableDef()


@routes.get(ORDER + "/events")
@endpoint(
    permission=READS,
    exists=order_exists,
    summary="The order's events, oldest first",
    tag="Events",
    returns=o.page_of(o.Event),
    query=("pageSize", "cursor"),
    description="Every change of the order, with who made it. A finished list: `nextCursor` is null on "
    "its last page. To follow changes as they happen, poll `GET /api/events` or use webhooks.",
)
async def order_events(request: web.Request) -> web.Response:
    size = page_size(request.query)
    events = await request.app[SERVICES].events.of_order(
        request[PRINCIPAL], path_id(request, "order_id"), after=id_after(request.query, "events"), size=size + 1
    )
    items = events[:size]
    # Event ids are "evt_<n>"; the list is keyed by n.
    next_key = [int(items[-1]["id"].removeprefix("evt_"))] if len(events) > size else None
    return json_response(page(items, next_key, "events"))


def event_type(query) -> str | None:
    wanted = query.get("type")
    if wanted is not None and wanted not in lifecycle.EVENT_TYPES:
        raise field_error("type", f"must be one of {', '.join(lifecycle.EVENT_TYPES)}", code="invalid_event_type")
    return wanted


@routes.get("/api/events")
@endpoint(
    permission=READS,
    summary="Every event of the reseller, oldest first: poll it with the last cursor",
    tag="Events",
    returns=o.FeedPage,
    query=("type", "orderIdFilter", "pageSize", "cursor"),
    description="`nextCursor` is never null: after the last page it is where to ask next for newer "
    "events (an empty page keeps the cursor). Following it never misses nor repeats an event, "
    "even while changes commit out of order on several replicas. An event shows here once every "
    "transaction that began before its own has ended, usually within milliseconds. Events are "
    "kept at least 30 days, including those of expired drafts.",
)
async def feed(request: web.Request) -> web.Response:
    query = request.query
    size = page_size(query)
    events, position = await request.app[SERVICES].events.feed(
        request[PRINCIPAL],
        after=feed_position(query.get("cursor")),
        event_type=event_type(query),
        order_id=query_id(query, "orderId"),
        size=size,
    )
    return json_response({"items": events, "nextCursor": feed_cursor(position)})
