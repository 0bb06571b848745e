"""Change orders: an item that names a subscription changes its quantity or cancels it."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from aiohttp import web

from service.app import create_app
from service.state import QUERIES, WEBHOOK_DISPATCHER
from tests.api import Api
from tests.locks import row_held
from tests.sse import Stream
from tests.subscription_support import bought, change_order, checked_out, executed, subscription
from tests.webhook_support import PUBLIC_IP


async def _events(api, tenant, query: str) -> list[dict]:
    status, page = await api.call(tenant, "GET", f"/api/events?pageSize=200&{query}")
    assert status == 200, page
    return page["items"]


async def test_a_quantity_change_and_a_cancellation_complete_with_their_events(api, client):
    tenant = await api.tenant()
    mail = await api.product(sku="MAIL", name="Mailbox")
    backup = await api.product(sku="BACKUP", name="Backup")
    status, hook = await api.call(tenant, "POST", "/api/webhooks", {"url": f"https://{PUBLIC_IP}/hooks"})
    assert status == 201
    mailboxes = await bought(api, tenant, mail, quantity=5)
    vault = await bought(api, tenant, backup, quantity=2)
    response = await client.get("/api/events/stream?type=subscription.changed", headers=tenant.headers)
    stream = Stream(response)
    await stream.next()  # the opening block

    order = await api.draft(tenant, tenant.customer_id)
    status, more = await api.call(
        tenant, "POST", f"/api/orders/{order['id']}/items",
        {"subscriptionId": mailboxes["id"], "action": "changeQuantity", "quantity": 8},
    )
    assert status == 201, more
    # The subscription's id as an item shows it (a string) works too.
    status, gone = await api.call(
        tenant, "POST", f"/api/orders/{order['id']}/items",
        {"subscriptionId": str(vault["id"]), "action": "cancel", "productId": backup["id"]},
    )
    assert status == 201, gone
    assert {k: more[k] for k in ("action", "subscriptionId", "productId", "sku", "productName", "quantity",
                                 "billingCycle", "unitPrice", "totalPrice", "status")} == {
        "action": "changeQuantity", "subscriptionId": str(mailboxes["id"]), "productId": mail["id"],
        "sku": "MAIL", "productName": "Mailbox", "quantity": 8, "billingCycle": "Monthly",
        "unitPrice": "12.50", "totalPrice": "100.00", "status": None,
    }
    assert (gone["action"], gone["subscriptionId"], gone["quantity"], gone["totalPrice"]) == (
        "cancel", str(vault["id"]), 0, "0.00"
    )
    status, draft = await api.call(tenant, "GET", f"/api/orders/{order['id']}")
    assert (draft["itemCount"], draft["total"]) == (2, "100.00")

    await checked_out(api, tenant, order["id"])
    status, progress = await api.call(tenant, "GET", f"/api/orders/{order['id']}/execute/status")
    # The execution entries name the subscriptions they change from the start.
    assert {e["itemId"]: e["subscriptionId"] for e in progress["items"]} == {
        more["id"]: str(mailboxes["id"]), gone["id"]: str(vault["id"])
    }
    assert (await executed(api, tenant, order["id"]))["status"] == "Completed"

    changed = await subscription(api, tenant, mailboxes["id"])
    assert (changed["quantity"], changed["status"], changed["cancelledAt"]) == (8, "Active", None)
    assert changed["updatedAt"] > mailboxes["updatedAt"]
    assert {k: v for k, v in changed.items() if k not in ("quantity", "updatedAt")} == {
        k: v for k, v in mailboxes.items() if k not in ("quantity", "updatedAt")
    }
    cancelled = await subscription(api, tenant, vault["id"])
    assert (cancelled["status"], cancelled["quantity"]) == ("Cancelled", 2)
    assert cancelled["cancelledAt"] and cancelled["cancelledAt"] == cancelled["updatedAt"]
    status, page = await api.call(tenant, "GET", "/api/subscriptions?status=Cancelled")
    assert [s["id"] for s in page["items"]] == [vault["id"]]

    # The events, each carrying the order that caused it, in the order's trail and the feed.
    status, trail = await api.call(tenant, "GET", f"/api/orders/{order['id']}/events?pageSize=200")
    mine = sorted((e["type"], e["data"]) for e in trail["items"] if e["type"].startswith("subscription."))
    assert mine == [
        ("subscription.cancelled", {"subscriptionId": str(vault["id"])}),
        ("subscription.changed",
         {"subscriptionId": str(mailboxes["id"]), "from": {"quantity": 5}, "to": {"quantity": 8}}),
    ]
    for kind in ("subscription.changed", "subscription.cancelled"):
        (event,) = await _events(api, tenant, f"type={kind}")
        assert (event["orderId"], event["accountId"], event["actor"]) == (
            order["id"], tenant.customer_id, {"type": "system", "clientId": None}
        )
    assert len(await _events(api, tenant, "type=subscription.created")) == 2
    # The stream carries them as they commit ...
    message = await stream.next_event(within=5)
    assert (message.event, message.json["orderId"], message.json["data"]["to"]) == (
        "subscription.changed", order["id"], {"quantity": 8}
    )
    stream.close()
    # ... and webhooks get them like every other event.
    await client.app[WEBHOOK_DISPATCHER].run_once()
    status, deliveries = await api.call(tenant, "GET", f"/api/webhooks/{hook['id']}/deliveries?pageSize=200")
    types = [d["eventType"] for d in deliveries["items"]]
    assert types.count("subscription.created") == 2
    assert types.count("subscription.changed") == types.count("subscription.cancelled") == 1


async def test_every_rule_of_a_change_item_answers_422_naming_its_field(api):
    tenant = await api.tenant()
    other = await api.tenant(name="Other")
    product = await api.product()
    spare = await api.product()
    active = await bought(api, tenant, product, quantity=3)
    own_account = await bought(api, tenant, product, account_id=tenant.account_id)
    ended = await bought(api, tenant, product)
    order, _ = await change_order(api, tenant, ended, "cancel")
    await checked_out(api, tenant, order["id"])
    await executed(api, tenant, order["id"])
    foreign = await bought(api, other, product)

    draft = await api.draft(tenant, tenant.customer_id)
    path = f"/api/orders/{draft['id']}/items"
    sid = active["id"]
    cases = [
        ({"subscriptionId": 987654321, "action": "cancel"}, "subscriptionId", "unknown_subscription"),
        ({"subscriptionId": foreign["id"], "action": "cancel"}, "subscriptionId", "unknown_subscription"),
        ({"subscriptionId": own_account["id"], "action": "cancel"}, "subscriptionId",
         "subscription_of_another_account"),
        ({"subscriptionId": ended["id"], "action": "cancel"}, "subscriptionId", "subscription_not_active"),
        ({"subscriptionId": sid, "action": "changeQuantity", "quantity": 4, "productId": spare["id"]},
         "productId", "product_mismatch"),
        ({"subscriptionId": sid, "action": "changeQuantity", "quantity": 4, "billingCycle": "Annually"},
         "billingCycle", "billing_cycle_mismatch"),
        ({"subscriptionId": sid, "action": "changeQuantity", "quantity": 3}, "quantity", "quantity_unchanged"),
        ({"subscriptionId": sid, "action": "changeQuantity"}, "quantity", "required"),
        ({"subscriptionId": sid, "action": "changeQuantity", "quantity": 0}, "quantity", "invalid"),
        ({"subscriptionId": sid, "action": "cancel", "quantity": 2}, "quantity", "invalid"),
        ({"subscriptionId": sid}, "action", "invalid"),
        ({"subscriptionId": sid, "action": "purchase", "quantity": 4}, "action", "invalid"),
        ({"subscriptionId": sid, "action": "upgrade"}, "action", "invalid"),
        ({"subscriptionId": "12a", "action": "cancel"}, "subscriptionId", "invalid"),
        ({"subscriptionId": 0, "action": "cancel"}, "subscriptionId", "invalid"),
        ({"subscriptionId": True, "action": "cancel"}, "subscriptionId", "invalid"),
        ({"action": "cancel"}, "subscriptionId", "required"),
        ({"action": "purchase", "quantity": 1, "billingCycle": "Monthly"}, "productId", "required"),
    ]
    for body, field, code in cases:
        status, problem = await api.call(tenant, "POST", path, body)
        assert (status, problem["code"]) == (422, "validation_error"), (body, problem)
        assert (field, code) in {(e["field"], e["code"]) for e in problem["errors"]}, (body, problem)
    # A foreign subscription answers exactly like an unknown one.
    unknown, foreign = [(await api.call(tenant, "POST", path, cases[n][0]))[1] for n in (0, 1)]
    assert (unknown["detail"], unknown["errors"]) == (foreign["detail"], foreign["errors"])
    # The product and cycle it has are accepted; then it may not appear twice in one order.
    body = {"subscriptionId": sid, "action": "changeQuantity", "quantity": 4, "productId": product["id"],
            "billingCycle": "Monthly"}
    assert (await api.call(tenant, "POST", path, body))[0] == 201
    status, problem = await api.call(tenant, "POST", path, {"subscriptionId": sid, "action": "cancel"})
    assert (status, problem["errors"][0]["field"], problem["errors"][0]["code"]) == (
        422, "subscriptionId", "duplicate_subscription"
    )
    # An order that is not yours is missing before anything is validated.
    status, problem = await api.call(other, "POST", path, {"subscriptionId": "x"})
    assert (status, problem["code"]) == (404, "not_found")
    status, page = await api.call(tenant, "GET", f"/api/orders/{draft['id']}/items")
    assert len(page["items"]) == 1


async def test_concurrent_adds_naming_one_subscription_add_it_once(api):
    tenant = await api.tenant()
    active = await bought(api, tenant, await api.product())
    draft = await api.draft(tenant, tenant.customer_id)
    results = await asyncio.gather(*(
        api.call(tenant, "POST", f"/api/orders/{draft['id']}/items",
                 {"subscriptionId": active["id"], "action": "changeQuantity", "quantity": 6 + n})
        for n in range(6)
    ))
    assert sorted(status for status, _ in results) == [201] + [422] * 5
    assert {body["errors"][0]["code"] for status, body in results if status == 422} == {"duplicate_subscription"}
    _, order = await api.call(tenant, "GET", f"/api/orders/{draft['id']}")
    assert order["itemCount"] == 1


async def test_one_pending_change_per_subscription_also_while_waiting_for_approval(api, simulator):
    url, _ = await simulator(delay=0.3)
    clerk = await api.tenant()
    approver = await api.colleague(clerk, ["orders:read", "orders:approve"])
    product = await api.product(fulfillment={"type": "http", "url": url})
    target = await bought(api, clerk, product, quantity=5)
    status, _ = await api.call(approver, "PUT", f"/api/accounts/{clerk.customer_id}/settings",
                               {"approvalRequired": True})
    assert status == 200

    first, _ = await change_order(api, clerk, target, "changeQuantity", quantity=7)
    second, _ = await change_order(api, clerk, target, "changeQuantity", quantity=9)
    await checked_out(api, clerk, first["id"], expect="Reseller Pending Approval")
    status, problem = await api.call(clerk, "POST", f"/api/orders/{second['id']}/checkout")
    assert (status, problem["code"]) == (409, "subscription_change_pending"), problem
    assert f"order {first['id']}" in problem["detail"]
    status, still = await api.call(clerk, "GET", f"/api/orders/{second['id']}")
    assert (still["status"], still["submittedBy"]) == ("Draft", None)  # nothing was checked out
    status, trail = await api.call(clerk, "GET", f"/api/orders/{second['id']}/events")
    assert [e["type"] for e in trail["items"]] == ["order.created", "order.item_added"]

    # Cancelling the waiting order frees the subscription: the second one may go.
    assert (await api.call(approver, "POST", f"/api/orders/{first['id']}/cancel", {"reason": "x"}))[0] == 200
    await checked_out(api, clerk, second["id"], expect="Reseller Pending Approval")
    assert (await api.call(approver, "POST", f"/api/orders/{second['id']}/approve"))[0] == 202
    # Executing (the connector takes 0.3 s) is still pending: a third change waits its turn.
    third, _ = await change_order(api, clerk, target, "cancel")
    status, problem = await api.call(clerk, "POST", f"/api/orders/{third['id']}/checkout")
    assert (status, problem["code"]) == (409, "subscription_change_pending")
    assert (await executed(api, clerk, second["id"]))["status"] == "Completed"
    assert (await subscription(api, clerk, target["id"]))["quantity"] == 9
    await checked_out(api, clerk, third["id"], expect="Reseller Pending Approval")
    assert (await api.call(approver, "POST", f"/api/orders/{third['id']}/approve"))[0] == 202
    assert (await executed(api, clerk, third["id"]))["status"] == "Completed"
    assert (await subscription(api, clerk, target["id"]))["status"] == "Cancelled"
    # A change checked out after its subscription ended is refused, naming the item.
    await api.call(approver, "PUT", f"/api/accounts/{clerk.customer_id}/settings", {"approvalRequired": None})
    other = await bought(api, clerk, product)
    stale, stale_item = await change_order(api, clerk, other, "changeQuantity", quantity=2)
    closer, _ = await change_order(api, clerk, other, "cancel")
    await checked_out(api, clerk, closer["id"])
    assert (await executed(api, clerk, closer["id"]))["status"] == "Completed"
    status, problem = await api.call(clerk, "POST", f"/api/orders/{stale['id']}/checkout")
    assert (status, problem["code"]) == (422, "validation_error")
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [
        (f"items[{stale_item['id']}].subscriptionId", "subscription_not_active")
    ]
    assert (await api.call(clerk, "GET", f"/api/orders/{stale['id']}"))[1]["status"] == "Draft"


async def _race(api, tenant, target, orders: int, base: int = 10):
    drafts = [
        (await change_order(api, tenant, target, "changeQuantity", quantity=base + n))[0] for n in range(orders)
    ]
    results = await asyncio.gather(*(api.call(tenant, "POST", f"/api/orders/{d['id']}/checkout") for d in drafts))
    return drafts, results


async def test_racing_checkouts_of_changes_to_one_subscription_have_exactly_one_winner(api, conn):
    tenant = await api.tenant()
    target = await bought(api, tenant, await api.product())
    for round_ in range(3):
        base = 100 * (round_ + 1)
        drafts, results = await _race(api, tenant, target, 8, base)
        statuses = sorted(status for status, _ in results)
        assert statuses == [202] + [409] * 7, statuses
        assert {body["code"] for status, body in results if status == 409} == {"subscription_change_pending"}
        (winner,) = [body for status, body in results if status == 202]
        assert await conn.fetchval("SELECT pending_order_id FROM subscriptions WHERE id = $1", target["id"]) == (
            winner["id"]
        )
        assert await conn.fetchval(
            "SELECT count(*) FROM executions WHERE order_id = ANY($1::bigint[])", [d["id"] for d in drafts]
        ) == 1
        await executed(api, tenant, winner["id"])
        position = [d["id"] for d in drafts].index(winner["id"])
        assert (await subscription(api, tenant, target["id"]))["quantity"] == base + position


async def test_the_race_test_catches_a_missing_guard(dsn, settings, aiohttp_client):
    """Control: without the claim's `pending_order_id IS NULL`, the row lock alone only
    queues the checkouts, and each one claims the subscription again: many win."""
    app = create_app(settings, dsn=dsn)
    guard = "\n      AND l.pending_order_id IS NULL\n"
    assert guard in app[QUERIES]["subscriptions_claim"]
    app[QUERIES] = {**app[QUERIES], "subscriptions_claim": app[QUERIES]["subscriptions_claim"].replace(guard, "\n")}
    api = Api(await aiohttp_client(app))
    tenant = await api.tenant()
    target = await bought(api, tenant, await api.product())
    _, results = await _race(api, tenant, target, 8)
    assert sum(1 for status, _ in results if status == 202) > 1


async def test_a_checkout_waiting_for_a_held_subscription_is_409_order_busy(dsn, settings, aiohttp_client, conn):
    """The checkout of a change claims its subscription's row; while another session holds
    that row, the checkout gives up after LOCK_TIMEOUT_SECONDS with 409 order_busy (not a
    500, not a wait for the statement timeout), nothing is checked out, and the key is free."""
    app = create_app(dataclasses.replace(settings, lock_timeout_seconds=0.5), dsn=dsn)
    api = Api(await aiohttp_client(app))
    tenant = await api.tenant()
    target = await bought(api, tenant, await api.product(), quantity=3)
    order, _ = await change_order(api, tenant, target, "changeQuantity", quantity=4)
    checkout = f"/api/orders/{order['id']}/checkout"
    headers = {**tenant.headers, "Idempotency-Key": "checkout-held"}
    async with row_held(dsn, "subscriptions", target["id"]):
        started = time.monotonic()
        response = await api.client.post(checkout, headers=headers)
        took = time.monotonic() - started
        problem = await response.json(content_type=None)
    assert (response.status, problem["code"], response.headers["Retry-After"]) == (409, "order_busy", "1"), problem
    assert took < 5, f"the checkout waited {took:.1f} s"
    assert "Idempotent-Replayed" not in response.headers
    assert (await api.call(tenant, "GET", f"/api/orders/{order['id']}"))[1]["status"] == "Draft"
    assert await conn.fetchval("SELECT pending_order_id FROM subscriptions WHERE id = $1", target["id"]) is None
    # Once the row is free, the same keyed checkout runs, once.
    response = await api.client.post(checkout, headers=headers)
    assert response.status == 202 and "Idempotent-Replayed" not in response.headers, await response.text()


@pytest.fixture
async def recording_connector(fake_connector):
    """A connector that records each POST body; it completes purchases and fails changes
    while `refuse_changes` is set."""
    state = {"bodies": [], "refuse_changes": True}

    async def post(request: web.Request) -> web.Response:
        body = await request.json()
        state["bodies"].append(body)
        return web.json_response({"operationId": f"op-{body['itemId']}"}, status=202)

    async def get(request: web.Request) -> web.Response:
        item = int(request.match_info["operation_id"].removeprefix("op-"))
        body = next(b for b in state["bodies"] if b["itemId"] == item)
        if body["action"] != "purchase" and state["refuse_changes"]:
            return web.json_response({"status": "Failed", "message": "the provider refused the change"})
        if body["action"] == "purchase":
            return web.json_response({"status": "Completed", "subscriptionId": f"ext-{item}"})
        return web.json_response({"status": "Completed"})

    state["url"] = await fake_connector(post=post, get=get)
    return state


async def test_a_change_the_connector_fails_leaves_the_subscription_as_it_was(api, conn, recording_connector):
    tenant = await api.tenant()
    product = await api.product(fulfillment={"type": "http", "url": recording_connector["url"]})
    target = await bought(api, tenant, product, quantity=4)
    assert target["externalId"] == f"ext-{target['itemId']}"
    order, item = await change_order(api, tenant, target, "changeQuantity", quantity=6)
    await checked_out(api, tenant, order["id"])
    assert (await executed(api, tenant, order["id"]))["status"] == "Failed"
    assert await subscription(api, tenant, target["id"]) == target
    _, shown = await api.call(tenant, "GET", f"/api/orders/{order['id']}/items/{item['id']}")
    assert (shown["status"], shown["subscriptionId"]) == ("Failed", str(target["id"]))
    assert await _events(api, tenant, "type=subscription.changed") == []
    # The connector was asked for the change by its own id of the subscription.
    purchase, change = recording_connector["bodies"]
    assert purchase["action"] == "purchase" and "subscriptionId" not in purchase
    assert {k: change[k] for k in ("action", "subscriptionId", "quantity", "itemId", "sku")} == {
        "action": "changeQuantity", "subscriptionId": f"ext-{target['itemId']}", "quantity": 6,
        "itemId": item["id"], "sku": product["sku"],
    }
    # The failed change is final: the subscription is free for the next one, which goes
    # by our id where the connector never gave one of its own.
    await conn.execute("UPDATE subscriptions SET external_id = NULL WHERE id = $1", target["id"])
    recording_connector["refuse_changes"] = False
    again, _ = await change_order(api, tenant, target, "cancel")
    await checked_out(api, tenant, again["id"])
    assert (await executed(api, tenant, again["id"]))["status"] == "Completed"
    last = recording_connector["bodies"][-1]
    assert (last["action"], last["subscriptionId"], last["quantity"]) == ("cancel", str(target["id"]), 0)
    ended = await subscription(api, tenant, target["id"])
    assert (ended["status"], ended["externalId"]) == ("Cancelled", None)
