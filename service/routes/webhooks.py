"""Webhooks: subscriptions to the reseller's order events, and their deliveries."""

from __future__ import annotations

from aiohttp import web

from service import errors as e
from service.auth import MANAGES_WEBHOOKS, READS
from service.http.endpoint import endpoint
from service.http.requests import id_after, id_page, page_size, path_id
from service.http.responses import json_response
from service.schemas import webhooks as w
from service.schemas.orders import page_of
from service.state import PRINCIPAL, SERVICES, URL_CHECKED

routes = web.RouteTableDef()
WEBHOOKS = "/api/webhooks"
WEBHOOK = WEBHOOKS + "/{webhook_id:[0-9]{1,18}}"
DELIVERIES = WEBHOOK + "/deliveries"
TAG = "Webhooks"
URL_RULES = (
    "`url`: http or https, at most 2,048 characters, no user name or password. Its host must resolve "
    "only to public addresses (422 `url_not_allowed` for loopback, private, link-local and other "
    "non-public ones, or a host that does not resolve), unless the operator set "
    "`WEBHOOK_ALLOW_PRIVATE_URLS=true`; it is checked again before every delivery."
)
DELIVERY_RULES = (
    "Each event is sent as `POST <url>` with the event (as `GET /api/events` shows it) as the JSON body "
    "and the Standard Webhooks headers `webhook-id` (the event id, the same on every attempt: dedupe "
    "by it), `webhook-timestamp` and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of "
    "`{webhook-id}.{webhook-timestamp}.{body}` keyed with the base64-decoded part of the secret "
    "after `whsec_`). Any 2xx within 10 s is success; redirects are not followed. Anything else is "
    "retried after the delays of `WEBHOOK_RETRY_SCHEDULE` (default 5 s, 30 s, 2 min, 10 min, 30 min, "
    "2 h, 6 h, 12 h), then the delivery is `failed`. A webhook gets the events of changes made after "
    "it was created, and none while it is disabled."
)


def _webhook_id(request: web.Request) -> int:
    return path_id(request, "webhook_id")


async def webhook_exists(request: web.Request) -> None:
    await request.app[SERVICES].webhooks.require_visible(request[PRINCIPAL], _webhook_id(request))


async def check_url(request: web.Request, data: dict) -> None:
    """Resolve the URL's host before any connection is taken (the Idempotency-Key
    layer calls this before it opens its transaction)."""
    if "url" in data:
        request[URL_CHECKED] = await request.app[SERVICES].webhooks.check_url(data["url"])


async def delivery_exists(request: web.Request) -> None:
    await request.app[SERVICES].webhooks.require_delivery(
        request[PRINCIPAL], _webhook_id(request), path_id(request, "delivery_id")
    )


@routes.post(WEBHOOKS)
@endpoint(
    permission=MANAGES_WEBHOOKS,
    body=w.WebhookCreate,
    prepare=check_url,
    summary="Subscribe an endpoint to the reseller's order events",
    tag=TAG,
    status=201,
    returns=w.CreatedWebhook,
    returns_description="Created; `secret` is shown only here",
    headers=("Location",),
    errors=(e.UrlNotAllowed, e.WebhookLimitReached),
    field_codes=(e.UrlNotAllowed.code,),
    answer_holds_secret=True,
    description=f"Both editions may manage webhooks, at most `WEBHOOKS_PER_RESELLER` (20 unless the "
    "operator changed it) per reseller: one more answers 409 `webhook_limit_reached`. "
    f"{URL_RULES} `eventTypes` absent or null: every type, also types added later. {DELIVERY_RULES}",
)
async def create_webhook(request: web.Request, data: dict) -> web.Response:
    created = await request.app[SERVICES].webhooks.create(
        request[PRINCIPAL], data, checked=request.get(URL_CHECKED)
    )
    return json_response(created, status=201, headers={"Location": f"{WEBHOOKS}/{created['id']}"})


@routes.get(WEBHOOKS)
@endpoint(
    permission=READS,
    summary="The reseller's webhooks, oldest first",
    tag=TAG,
    returns=page_of(w.Webhook),
    query=("pageSize", "cursor"),
)
async def list_webhooks(request: web.Request) -> web.Response:
    size = page_size(request.query)
    found = await request.app[SERVICES].webhooks.page(
        request[PRINCIPAL], after=id_after(request.query, "webhooks"), size=size + 1
    )
    return json_response(id_page(found, size, "webhooks"))


@routes.get(WEBHOOK)
@endpoint(permission=READS, exists=webhook_exists, summary="Read a webhook", tag=TAG, returns=w.Webhook)
async def get_webhook(request: web.Request) -> web.Response:
    return json_response(await request.app[SERVICES].webhooks.get(request[PRINCIPAL], _webhook_id(request)))


@routes.patch(WEBHOOK)
@endpoint(
    permission=MANAGES_WEBHOOKS,
    exists=webhook_exists,
    body=w.WebhookPatch,
    prepare=check_url,
    summary="Change a webhook",
    tag=TAG,
    returns=w.Webhook,
    errors=(e.UrlNotAllowed,),
    field_codes=(e.UrlNotAllowed.code,),
    description=f"Changes only the fields sent. {URL_RULES} `eventTypes: null` subscribes to every type. "
    "A webhook whose deliveries all failed for 3 days is disabled (`enabled: false`): its pending "
    "deliveries wait and no new ones are made. `enabled: true` resumes the pending ones at once; events "
    "of the disabled time are not delivered (read them from `GET /api/events`).",
)
async def patch_webhook(request: web.Request, data: dict) -> web.Response:
    changed = await request.app[SERVICES].webhooks.change(
        request[PRINCIPAL], _webhook_id(request), data, checked=request.get(URL_CHECKED)
    )
    return json_response(changed)


@routes.delete(WEBHOOK)
@endpoint(
    permission=MANAGES_WEBHOOKS,
    exists=webhook_exists,
    summary="Delete a webhook and its deliveries",
    tag=TAG,
    status=204,
    returns_description="Deleted",
    description="Nothing more is sent to it; a send already in flight may still arrive.",
)
async def delete_webhook(request: web.Request) -> web.Response:
    await request.app[SERVICES].webhooks.delete(request[PRINCIPAL], _webhook_id(request))
    return web.Response(status=204)


@routes.get(DELIVERIES)
@endpoint(
    permission=READS,
    exists=webhook_exists,
    summary="The webhook's deliveries, newest first",
    tag=TAG,
    returns=page_of(w.Delivery),
    query=("pageSize", "cursor"),
    description="One per event sent to this webhook. `status`: `pending` (being tried; `nextAttemptAt` is "
    "the next try), `succeeded` or `failed` (every retry failed). `attempts` counts the attempts whose "
    "outcome was recorded; `lastResponseStatus` and `lastError` describe the last one (`lastError` is "
    "null after a success).",
)
async def list_deliveries(request: web.Request) -> web.Response:
    size = page_size(request.query)
    found = await request.app[SERVICES].webhooks.deliveries(
        request[PRINCIPAL], _webhook_id(request), before=id_after(request.query, "deliveries"), size=size + 1
    )
    return json_response(id_page(found, size, "deliveries"))


@routes.post(DELIVERIES + "/{delivery_id:[0-9]{1,18}}/retry")
@endpoint(
    permission=MANAGES_WEBHOOKS,
    exists=delivery_exists,
    summary="Deliver again now",
    tag=TAG,
    status=202,
    returns=w.Delivery,
    returns_description="Accepted: the delivery is `pending` and due now",
    errors=(e.WebhookDisabled,),
    description="Any delivery may be sent again, a succeeded one too (the receiver dedupes by "
    "`webhook-id`). A `failed` or `succeeded` one gets one more attempt and no retries after it; a "
    "`pending` one comes forward and keeps its schedule. While the webhook is disabled: 409 "
    "`webhook_disabled`.",
)
async def retry_delivery(request: web.Request) -> web.Response:
    retried = await request.app[SERVICES].webhooks.retry(
        request[PRINCIPAL], _webhook_id(request), path_id(request, "delivery_id")
    )
    return json_response(retried, status=202)
