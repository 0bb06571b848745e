"""Subscriptions: what the reseller's and its customers' completed purchases became.

Read-only here: a subscription changes through an order item that names it
(POST /api/orders/{orderId}/items with `subscriptionId` and `action`)."""

from __future__ import annotations

import datetime

from aiohttp import web

from service.auth import READS
from service.http.endpoint import endpoint
from service.http.requests import (
    decode_cursor,
    invalid_cursor,
    page,
    page_size,
    path_id,
    positive_id,
    query_id,
    query_text,
)
from service.http.responses import json_response
from service.schemas import orders as o
from service.schemas import subscriptions as s
from service.state import PRINCIPAL, SERVICES

routes = web.RouteTableDef()
SUBSCRIPTION = "/api/subscriptions/{subscription_id:[0-9]{1,18}}"


async def subscription_exists(request: web.Request) -> None:
    await request.app[SERVICES].subscriptions.require_visible(
        request[PRINCIPAL], path_id(request, "subscription_id")
    )


def _cursor_after(query) -> tuple[datetime.datetime, int] | None:
    after = decode_cursor(query, "subscriptions", 2)
    if after is None:
        return None
    try:
        created = datetime.datetime.fromisoformat(after[0])
    except (TypeError, ValueError):
        raise invalid_cursor() from None
    if created.tzinfo is None:
        raise invalid_cursor()
    return created, positive_id(after[1], "cursor")


@routes.get("/api/subscriptions")
@endpoint(
    permission=READS,
    summary="List subscriptions, newest first",
    tag="Subscriptions",
    returns=o.page_of(s.Subscription),
    query=("accountIdFilter", "productIdFilter", "subscriptionStatus", "pageSize", "cursor"),
    description="The subscriptions of the reseller and its end customers: one per completed purchase "
    "item, created when it completed. Newest first: by `createdAt`, then `id`, descending. Both editions "
    "may read them.",
)
async def list_subscriptions(request: web.Request) -> web.Response:
    query = request.query
    size = page_size(query)
    found = await request.app[SERVICES].subscriptions.page(
        request[PRINCIPAL],
        account_id=query_id(query, "accountId"),
        product_id=query_id(query, "productId"),
        status=query_text(query, "status"),
        after=_cursor_after(query),
        size=size + 1,
    )
    items = found[:size]
    next_key = [items[-1]["createdAt"], items[-1]["id"]] if len(found) > size else None
    return json_response(page(items, next_key, "subscriptions"))


@routes.get(SUBSCRIPTION)
@endpoint(
    permission=READS,
    exists=subscription_exists,
    etag=True,
    summary="Read a subscription",
    tag="Subscriptions",
    returns=s.Subscription,
)
async def get_subscription(request: web.Request) -> web.Response:
    found = await request.app[SERVICES].subscriptions.get(request[PRINCIPAL], path_id(request, "subscription_id"))
    return json_response(found)
