"""Orders: create, list by stage, read, check out, approve, cancel, execution status.

Handlers are thin: @endpoint runs the contract's checks in order and parses the
body, one call to the domain does the work, the answer is its result."""

from __future__ import annotations

import datetime

from aiohttp import web

from service import errors as e
from service import lifecycle
from service.auth import APPROVES, READS, WRITES
from service.http.endpoint import endpoint, if_match
from service.http.requests import (
    decode_cursor,
    field_error,
    invalid_cursor,
    page,
    page_size,
    path_id,
    positive_id,
    query_date,
    query_id,
    query_text,
)
from service.http.responses import json_response
from service.schemas import orders as o
from service.state import PRINCIPAL, SERVICES

routes = web.RouteTableDef()
ORDER = "/api/orders/{order_id:[0-9]{1,18}}"
DRAFT_ONLY = "Only while the order is a Draft."
IF_MATCH_ORDER = "the order's"


async def order_exists(request: web.Request) -> None:
    await request.app[SERVICES].orders.require_visible(request[PRINCIPAL], path_id(request, "order_id"))


@routes.post("/api/orders")
@endpoint(
    permission=WRITES,
    body=o.OrderCreate,
    field_codes=("unknown_account", "date_in_past", "date_too_far"),
    summary="Create a Draft order",
    tag="Orders",
    status=201,
    returns=o.Order,
    returns_description="Created",
    headers=("Location",),
    description="`orderDate` defaults to today (UTC) and may not be in the past; `expirationDate` is 7 days "
    "later. A foreign or unknown `accountId` answers 422 like a missing one. Read-only fields are ignored.",
)
async def create_order(request: web.Request, data: dict) -> web.Response:
    order = await request.app[SERVICES].orders.create(request[PRINCIPAL], data)
    return json_response(order, status=201, headers={"Location": f"/api/orders/{order['id']}"})


def _cursor_after(query) -> tuple[datetime.date, int] | None:
    after = decode_cursor(query, "orders", 2)
    if after is None:
        return None
    try:
        day = datetime.date.fromisoformat(after[0])
    except (TypeError, ValueError):
        raise invalid_cursor() from None
    return day, positive_id(after[1], "cursor")


@routes.get("/api/orders")
@endpoint(
    permission=READS,
    summary="List orders, newest first",
    tag="Orders",
    returns=o.page_of(o.Order),
    query=("stage", "accountIdFilter", "status", "fromDate", "toDate", "pageSize", "cursor"),
    description="Orders of the reseller and its end customers, by `orderDate` then `id`, descending. "
    "Without `stage`, only confirmed orders are listed: Drafts, orders waiting for approval and "
    "cancelled ones need `stage=Draft` or `stage=All`.",
)
async def list_orders(request: web.Request) -> web.Response:
    query = request.query
    stage = query.get("stage", "Confirmed").lower()
    if stage not in ("confirmed", "draft", "all"):
        raise field_error("stage", "must be Confirmed, Draft or All", code="invalid_stage")
    size = page_size(query)
    orders = await request.app[SERVICES].orders.page(
        request[PRINCIPAL],
        stage=stage,
        account_id=query_id(query, "accountId"),
        status=query_text(query, "status"),
        from_date=query_date(query, "fromDate"),
        to_date=query_date(query, "toDate"),
        after=_cursor_after(query),
        size=size + 1,
    )
    items = orders[:size]
    next_key = [items[-1]["orderDate"], items[-1]["id"]] if len(orders) > size else None
    return json_response(page(items, next_key, "orders"))


@routes.get(ORDER)
@endpoint(
    permission=READS,
    exists=order_exists,
    etag=True,
    summary="Read an order, Draft or confirmed",
    tag="Orders",
    returns=o.Order,
)
async def get_order(request: web.Request) -> web.Response:
    order = await request.app[SERVICES].orders.get(request[PRINCIPAL], path_id(request, "order_id"))
    return json_response(order)


@routes.post(ORDER + "/checkout")
@endpoint(
    permission=WRITES,
    exists=order_exists,
    if_match=IF_MATCH_ORDER,
    summary="Check out a Draft: execute it, or ask for approval",
    tag="Orders",
    status=202,
    returns=o.Order,
    returns_description="Accepted: the order is `Pending` (follow `Location` to its execution), or "
    "`Reseller Pending Approval` when the reseller requires approval (`Location` is the order)",
    headers=("Location",),
    example="CheckedOutOrder",
    errors=(e.OrderNotDraft, e.OrderEmpty, e.OrderIncomplete, e.SubscriptionChangePending),
    field_codes=("required", "subscription_not_active"),
    description="422 `required_values_missing` lists every missing custom field and characteristic. "
    "Approval is asked for when the order's account says `approvalRequired: true`, or says null and the "
    "reseller's setting is true. A change item whose subscription has another change checked out and not "
    "final (waiting for approval included) answers 409 `subscription_change_pending`, and one whose "
    "subscription is no longer Active 422 `validation_error` naming `items[<id>].subscriptionId`; nothing "
    "is checked out then. Of concurrent checkouts of one order, or of orders changing one subscription, "
    "exactly one wins; the others answer 409.",
)
async def checkout(request: web.Request) -> web.Response:
    order_id = path_id(request, "order_id")
    order = await request.app[SERVICES].orders.checkout(
        request[PRINCIPAL], order_id, if_match=if_match(request)
    )
    location = (
        f"/api/orders/{order_id}"
        if order["status"] == lifecycle.PENDING_APPROVAL
        else f"/api/orders/{order_id}/execute/status"
    )
    return json_response(order, status=202, headers={"Location": location})


@routes.post(ORDER + "/approve")
@endpoint(
    permission=APPROVES,
    exists=order_exists,
    if_match=IF_MATCH_ORDER,
    summary="Approve an order waiting for approval: execute it",
    tag="Approval",
    status=202,
    returns=o.Order,
    returns_description="Accepted: the order is `Pending`; follow `Location` to its execution",
    headers=("Location",),
    example="CheckedOutOrder",
    errors=(e.OrderNotPendingApproval, e.ApproverIsSubmitter),
    description="Four eyes: the credential that checked the order out cannot approve it (403 "
    "`approver_is_submitter`, checked after the order's status). Of concurrent approvals and "
    "cancellations of one order exactly one succeeds; the others answer 409.",
)
async def approve(request: web.Request) -> web.Response:
    order_id = path_id(request, "order_id")
    order = await request.app[SERVICES].orders.approve(request[PRINCIPAL], order_id, if_match=if_match(request))
    return json_response(order, status=202, headers={"Location": f"/api/orders/{order_id}/execute/status"})


@routes.post(ORDER + "/cancel")
@endpoint(
    permission=APPROVES,
    exists=order_exists,
    body=o.Cancellation,
    body_required=False,
    if_match=IF_MATCH_ORDER,
    summary="Cancel an order waiting for approval",
    tag="Approval",
    returns=o.Order,
    example="CancelledOrder",
    errors=(e.OrderNotPendingApproval,),
    description="The submitter may cancel its own order. The body is optional JSON `{\"reason\"}`.",
)
async def cancel(request: web.Request, data: dict) -> web.Response:
    order = await request.app[SERVICES].orders.cancel(
        request[PRINCIPAL],
        path_id(request, "order_id"),
        reason=data.get("reason"),
        if_match=if_match(request),
    )
    return json_response(order)


@routes.get(ORDER + "/execute/status")
@endpoint(
    permission=READS,
    exists=order_exists,
    summary="Execution progress of a confirmed order",
    tag="Orders",
    returns=o.ExecutionStatus,
    errors=(e.OrderNotConfirmed,),
)
async def execution_status(request: web.Request) -> web.Response:
    status = await request.app[SERVICES].orders.execution_status(
        request[PRINCIPAL], path_id(request, "order_id")
    )
    return json_response(status)
