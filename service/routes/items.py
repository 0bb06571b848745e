"""Items of an order."""

from __future__ import annotations

from aiohttp import web

from service import errors as e
from service.auth import READS, WRITES
from service.http.endpoint import endpoint, if_match
from service.http.requests import id_after, id_page, page_size, path_id
from service.http.responses import json_response
from service.routes.orders import DRAFT_ONLY, IF_MATCH_ORDER, ORDER, order_exists
from service.schemas import orders as o
from service.state import PRINCIPAL, SERVICES

routes = web.RouteTableDef()
ITEMS = ORDER + "/items"
ITEM = ITEMS + "/{item_id:[0-9]{1,18}}"


async def item_exists(request: web.Request) -> None:
    await request.app[SERVICES].items.require_visible(
        request[PRINCIPAL], path_id(request, "order_id"), path_id(request, "item_id")
    )


@routes.post(ITEMS)
@endpoint(
    permission=WRITES,
    exists=order_exists,
    body=o.ItemCreate,
    field_codes=(
        "unknown_product",
        "unknown_billing_cycle",
        "currency_mismatch",
        "total_too_large",
        "unknown_name",
        "duplicate_name",
        "invalid_value",
        "unknown_subscription",
        "subscription_of_another_account",
        "subscription_not_active",
        "duplicate_subscription",
        "product_mismatch",
        "billing_cycle_mismatch",
        "quantity_unchanged",
    ),
    if_match=IF_MATCH_ORDER,
    summary="Add an item to a Draft: a purchase, or a change of a subscription",
    tag="Items",
    status=201,
    returns=o.Item,
    returns_description="Created",
    headers=("Location",),
    errors=(e.OrderNotDraft,),
    description=f"{DRAFT_ONLY} A purchase (`productId`, `quantity`, `billingCycle`; `action` purchase, the "
    "default): product, billing cycle, quantity and characteristic values are checked against the catalog; "
    "required characteristics may stay unset until checkout. A change (`subscriptionId` and `action` "
    "`changeQuantity` with the new total `quantity`, or `cancel`) takes product, billing cycle and unit price "
    "from the subscription, which must be an Active one of the order's account and named once per order; a "
    "`productId` or `billingCycle` sent with it must be the subscription's; a new quantity must differ from "
    "the current one; a cancel has quantity 0 and total 0. Each broken rule is a 422 naming its field.",
)
async def add_item(request: web.Request, data: dict) -> web.Response:
    order_id = path_id(request, "order_id")
    item = await request.app[SERVICES].items.add(request[PRINCIPAL], order_id, data, if_match=if_match(request))
    return json_response(item, status=201, headers={"Location": f"/api/orders/{order_id}/items/{item['id']}"})


@routes.get(ITEMS)
@endpoint(
    permission=READS,
    exists=order_exists,
    summary="The order's items",
    tag="Items",
    returns=o.page_of(o.Item),
    query=("pageSize", "cursor"),
)
async def list_items(request: web.Request) -> web.Response:
    size = page_size(request.query)
    items = await request.app[SERVICES].items.page(
        request[PRINCIPAL], path_id(request, "order_id"), after=id_after(request.query, "items"), size=size + 1
    )
    return json_response(id_page(items, size, "items"))


@routes.get(ITEM)
@endpoint(permission=READS, exists=item_exists, etag=True, summary="Read an item", tag="Items", returns=o.Item)
async def get_item(request: web.Request) -> web.Response:
    item = await request.app[SERVICES].items.get(
        request[PRINCIPAL], path_id(request, "order_id"), path_id(request, "item_id")
    )
    return json_response(item)


@routes.delete(ITEM)
@endpoint(
    permission=WRITES,
    exists=item_exists,
    if_match="the item's",
    summary="Delete an item",
    tag="Items",
    status=204,
    returns_description="Deleted",
    errors=(e.OrderNotDraft,),
    description=DRAFT_ONLY,
)
async def delete_item(request: web.Request) -> web.Response:
    await request.app[SERVICES].items.delete(
        request[PRINCIPAL], path_id(request, "order_id"), path_id(request, "item_id"), if_match=if_match(request)
    )
    return web.Response(status=204)
