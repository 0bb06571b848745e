"""Deliveries to real receiving servers, sent by the running service's scheduler:
signed per Standard Webhooks, retried on the schedule, observable in the
deliveries list, retried by hand, isolated from hung receivers, refused for
private addresses at delivery time too."""

from __future__ import annotations

import asyncio
import datetime

from aiohttp import web

from service.lifecycle import EVENT_TYPES
from service.state import WEBHOOK_SENDER
from tests.process import free_port
from tests.webhook_support import PUBLIC_IP, FakeResolver, deliveries, eventually, subscribe


def _at(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp).timestamp()


async def _order_events(api, tenant, order_id: int) -> list[dict]:
    status, page = await api.call(tenant, "GET", f"/api/orders/{order_id}/events?pageSize=200")
    assert status == 200
    return page["items"]


async def test_a_checked_out_and_executed_orders_events_all_arrive_signed(webhook_api, receiver):
    url, inbox = await receiver()
    api = await webhook_api()
    tenant = await api.tenant()
    hook = await subscribe(api, tenant, url)
    product = await api.product()
    order = await api.draft(tenant)
    await api.item(tenant, order["id"], product)
    assert (await api.call(tenant, "POST", f"/api/orders/{order['id']}/checkout"))[0] == 202

    async def executed_and_delivered():
        _, now = await api.call(tenant, "GET", f"/api/orders/{order['id']}")
        events = await _order_events(api, tenant, order["id"])
        done = now["status"] == "Completed" and {e["id"] for e in events} <= set(inbox.ids())
        return events if done else None

    events = await eventually(executed_and_delivered)
    types = [e["type"] for e in events]
    assert types[:3] == ["order.created", "order.item_added", "order.checked_out"]
    assert {"item.status_changed", "order.status_changed"} <= set(types)
    # Each verified with the secret by the standardwebhooks package, and
    # exactly the event as the API shows it; webhook-id is the event id.
    verified = inbox.verified(hook["secret"])
    assert sorted(verified, key=lambda e: int(e["id"][4:])) == events
    assert inbox.ids() == [e["id"] for e in verified]
    assert len(inbox.received) == len(events)  # each once
    for received in inbox.received:
        assert received.headers["Content-Type"] == "application/json"
        assert received.headers["webhook-signature"].startswith("v1,")

    listed = await deliveries(api, tenant, hook["id"])
    assert [d["eventId"] for d in listed] == [e["id"] for e in reversed(events)]  # newest first
    for delivery in listed:
        assert (delivery["status"], delivery["attempts"], delivery["lastResponseStatus"]) == (
            "succeeded",
            1,
            204,
        )
        assert (delivery["lastError"], delivery["nextAttemptAt"]) == (None, None)
        assert delivery["eventType"] in EVENT_TYPES


async def test_a_receiver_failing_twice_gets_the_event_three_times_on_the_schedule(webhook_api, receiver):
    url, inbox = await receiver()
    inbox.respond = lambda received, attempt: web.Response(status=500 if attempt <= 2 else 200)
    schedule = (0.6, 1.2)
    api = await webhook_api(webhook_retry_schedule=schedule)
    tenant = await api.tenant()
    hook = await subscribe(api, tenant, url, eventTypes=["order.created"])
    await api.draft(tenant)

    pending = await eventually(lambda: _first_with(api, tenant, hook["id"], attempts=1))
    assert (pending["status"], pending["lastResponseStatus"], pending["lastError"]) == (
        "pending",
        500,
        "HTTP 500",
    )
    assert _at(pending["nextAttemptAt"]) - _at(pending["lastAttemptAt"]) >= schedule[0] - 0.05

    done = await eventually(lambda: _first_with(api, tenant, hook["id"], status="succeeded"), within=15)
    assert (done["attempts"], done["lastResponseStatus"], done["lastError"], done["nextAttemptAt"]) == (
        3,
        200,
        None,
        None,
    )
    times = [r.at for r in inbox.received]
    assert len(times) == 3 and len(set(inbox.ids())) == 1
    # Each retry waits its delay, and comes within a poll interval or two of it.
    for gap, delay in zip((times[1] - times[0], times[2] - times[1]), schedule, strict=True):
        assert delay - 0.05 <= gap <= delay + 0.6, (gap, delay)
    # The same event id on every attempt; a fresh timestamp on each.
    assert len({r.headers["webhook-timestamp"] for r in inbox.received}) >= 2


async def _first_with(api, tenant, webhook_id: int, **wanted) -> dict | None:
    for delivery in await deliveries(api, tenant, webhook_id):
        if all(delivery[key] == value for key, value in wanted.items()):
            return delivery
    return None


async def test_a_delivery_failing_every_time_is_failed_after_the_schedule(webhook_api, receiver):
    url, inbox = await receiver()
    inbox.respond = lambda received, attempt: web.Response(status=503)
    api = await webhook_api(webhook_retry_schedule=(0.2, 0.2))
    tenant = await api.tenant()
    hook = await subscribe(api, tenant, url, eventTypes=["order.created"])
    await api.draft(tenant)

    failed = await eventually(lambda: _first_with(api, tenant, hook["id"], status="failed"))
    assert (failed["attempts"], failed["lastResponseStatus"], failed["lastError"]) == (3, 503, "HTTP 503")
    assert failed["nextAttemptAt"] is None
    await asyncio.sleep(0.6)
    assert len(inbox.received) == 3


async def test_a_hung_receiver_does_not_hold_up_another(webhook_api, receiver):
    hung_url, hung = await receiver()
    ok_url, ok = await receiver()
    release = asyncio.Event()

    async def hang(received, attempt):
        await release.wait()
        return web.Response(status=204)

    hung.respond = hang
    poll = 0.2
    api = await webhook_api(
        webhook_poll_interval_seconds=poll, webhook_concurrency=4, webhook_endpoint_concurrency=2
    )
    tenant = await api.tenant()
    # The hung endpoint's deliveries come first in every batch.
    await subscribe(api, tenant, hung_url, eventTypes=["order.created"])
    await subscribe(api, tenant, ok_url, eventTypes=["order.created"])
    try:
        for _ in range(12):
            await api.draft(tenant)
            await asyncio.sleep(0.05)
        await eventually(lambda: _count(ok, 12), within=8)
        # Each event reached the healthy receiver within two poll intervals of
        # its change (one to be dispatched, at most one more because of the hung one).
        lags = [r.at - _at(r.event["occurredAt"]) for r in ok.received]
        assert max(lags) < 2 * poll + 0.5, lags
        # The hung endpoint holds its 2 slots and no more, still waiting.
        assert len(hung.received) == 2
    finally:
        release.set()


async def _count(inbox, n: int) -> bool:
    return len(set(inbox.ids())) >= n


async def test_a_delivery_is_retried_by_hand(webhook_api, receiver):
    url, inbox = await receiver()
    answer = {"status": 500}
    inbox.respond = lambda received, attempt: web.Response(status=answer["status"])
    api = await webhook_api(webhook_retry_schedule=(0.1,))
    tenant = await api.tenant()
    hook = await subscribe(api, tenant, url, eventTypes=["order.created"])
    other = await subscribe(api, tenant, url, eventTypes=["order.expired"])
    await api.draft(tenant)
    failed = await eventually(lambda: _first_with(api, tenant, hook["id"], status="failed"))
    assert failed["attempts"] == 2

    answer["status"] = 200
    retry = f"/api/webhooks/{hook['id']}/deliveries/{failed['id']}/retry"
    status, accepted = await api.call(tenant, "POST", retry)
    assert status == 202
    assert (accepted["status"], accepted["attempts"], accepted["id"]) == ("pending", 2, failed["id"])
    assert accepted["nextAttemptAt"] is not None
    done = await eventually(lambda: _first_with(api, tenant, hook["id"], status="succeeded"))
    assert (done["attempts"], done["lastResponseStatus"], done["lastError"]) == (3, 200, None)

    # A succeeded one may be sent again too: the receiver dedupes by webhook-id.
    assert (await api.call(tenant, "POST", retry))[0] == 202
    await eventually(lambda: _count_of(inbox, failed["eventId"], 4))
    assert (await _first_with(api, tenant, hook["id"], id=failed["id"]))["attempts"] == 4
    # Not a delivery of that webhook, or none at all: 404.
    for path in (
        f"/api/webhooks/{other['id']}/deliveries/{failed['id']}/retry",
        f"/api/webhooks/{hook['id']}/deliveries/999999/retry",
    ):
        assert (await api.call(tenant, "POST", path))[0] == 404


async def _count_of(inbox, webhook_id: str, n: int) -> bool:
    return inbox.ids().count(webhook_id) >= n


async def test_an_endpoint_failing_without_a_break_is_disabled_and_resumes_when_enabled(
    webhook_api, receiver, conn
):
    url, inbox = await receiver()
    answer = {"status": 500}
    inbox.respond = lambda received, attempt: web.Response(status=answer["status"])
    # "3 days" made 1 s for the test; attempts every 0.3 s.
    api = await webhook_api(webhook_disable_after_seconds=1.0, webhook_retry_schedule=(0.3,) * 10)
    tenant = await api.tenant()
    hook = await subscribe(api, tenant, url, eventTypes=["order.created"])
    path = f"/api/webhooks/{hook['id']}"
    await api.draft(tenant)

    async def disabled():
        _, now = await api.call(tenant, "GET", path)
        return not now["enabled"]

    await eventually(disabled)
    (delivery,) = await deliveries(api, tenant, hook["id"])
    # Disabled at the first failed attempt a second or more after the first failure.
    assert 4 <= delivery["attempts"] <= 6, delivery
    assert (delivery["status"], delivery["nextAttemptAt"]) == ("pending", None)
    sent = len(inbox.received)
    await api.draft(tenant)  # an event while disabled: not delivered, not kept
    await asyncio.sleep(1.0)
    assert len(inbox.received) == sent
    assert len(await deliveries(api, tenant, hook["id"])) == 1
    status, problem = await api.call(tenant, "POST", f"{path}/deliveries/{delivery['id']}/retry")
    assert (status, problem["code"]) == (409, "webhook_disabled")

    answer["status"] = 204
    assert (await api.call(tenant, "PATCH", path, {"enabled": True}))[1]["enabled"] is True
    done = await eventually(lambda: _first_with(api, tenant, hook["id"], status="succeeded"))
    assert done["id"] == delivery["id"]
    assert await conn.fetchval("SELECT failing_since FROM webhooks WHERE id = $1", hook["id"]) is None


async def test_a_success_ends_the_run_of_failures(webhook_api, receiver, conn):
    url, inbox = await receiver()
    inbox.respond = lambda received, attempt: web.Response(status=500 if attempt == 1 else 204)
    api = await webhook_api(webhook_retry_schedule=(0.3,))
    tenant = await api.tenant()
    hook = await subscribe(api, tenant, url, eventTypes=["order.created"])
    await api.draft(tenant)
    failing = await eventually(
        lambda: conn.fetchval("SELECT failing_since FROM webhooks WHERE id = $1", hook["id"])
    )
    assert failing is not None
    await eventually(lambda: _first_with(api, tenant, hook["id"], status="succeeded"))
    assert await conn.fetchval("SELECT failing_since FROM webhooks WHERE id = $1", hook["id"]) is None


async def test_a_name_that_starts_resolving_privately_is_refused_at_delivery(webhook_api, receiver):
    url, inbox = await receiver()
    port = url.split(":")[2].split("/")[0]
    resolver = FakeResolver({"hooks.example.com": [PUBLIC_IP]})
    api = await webhook_api(resolver=resolver, webhook_allow_private_urls=False, webhook_retry_schedule=(30,))
    tenant = await api.tenant()
    hook = await subscribe(
        api, tenant, f"http://hooks.example.com:{port}/hooks", eventTypes=["order.created"]
    )
    # Saved while public; now the name points at the receiver on 127.0.0.1 (DNS rebinding).
    resolver.hosts["hooks.example.com"] = ["127.0.0.1"]
    await api.draft(tenant)

    refused = await eventually(lambda: _first_with(api, tenant, hook["id"], attempts=1))
    assert refused["status"] == "pending" and refused["nextAttemptAt"] is not None  # retried on schedule
    assert refused["lastResponseStatus"] is None
    assert refused["lastError"].startswith("url_not_allowed: host hooks.example.com resolves to a loopback")
    assert "127.0.0.1" not in refused["lastError"]
    assert inbox.received == []


async def test_the_sender_connects_to_the_address_its_resolver_vetted(webhook_api, receiver):
    """The control for the test above: allowed private addresses, the same name
    reaches the receiver, so what stopped it there was the check, not the port."""
    url, inbox = await receiver()
    port = url.split(":")[2].split("/")[0]
    resolver = FakeResolver({"hooks.example.com": ["127.0.0.1"]})
    api = await webhook_api(resolver=resolver, webhook_allow_private_urls=True)
    tenant = await api.tenant()
    await subscribe(api, tenant, f"http://hooks.example.com:{port}/hooks", eventTypes=["order.created"])
    await api.draft(tenant)
    await eventually(lambda: _count(inbox, 1))
    assert "hooks.example.com" in resolver.asked


async def test_redirects_are_not_followed(webhook_api, receiver):
    url, inbox = await receiver()
    elsewhere_url, elsewhere = await receiver()
    inbox.respond = lambda received, attempt: web.Response(status=307, headers={"Location": elsewhere_url})
    api = await webhook_api(webhook_retry_schedule=(30,))
    tenant = await api.tenant()
    hook = await subscribe(api, tenant, url, eventTypes=["order.created"])
    await api.draft(tenant)
    attempt = await eventually(lambda: _first_with(api, tenant, hook["id"], attempts=1))
    assert (attempt["lastResponseStatus"], attempt["lastError"]) == (
        307,
        "HTTP 307: redirects are not followed",
    )
    assert len(inbox.received) == 1 and elsewhere.received == []


async def test_a_slow_or_absent_receiver_is_a_failed_attempt_saying_why(webhook_api, receiver):
    slow_url, slow = await receiver()

    async def late(received, attempt):
        await asyncio.sleep(2)
        return web.Response(status=204)

    slow.respond = late
    api = await webhook_api(webhook_timeout_seconds=0.5, webhook_retry_schedule=(30,))
    tenant = await api.tenant()
    timed_out = await subscribe(api, tenant, slow_url, eventTypes=["order.created"])
    absent = await subscribe(
        api, tenant, f"http://127.0.0.1:{free_port()}/hooks", eventTypes=["order.created"]
    )
    await api.draft(tenant)
    first = await eventually(lambda: _first_with(api, tenant, timed_out["id"], attempts=1))
    assert (first["lastResponseStatus"], first["lastError"]) == (None, "no answer within 0.5 s")
    second = await eventually(lambda: _first_with(api, tenant, absent["id"], attempts=1))
    assert second["lastResponseStatus"] is None
    assert second["lastError"].startswith("ClientConnectorError: Cannot connect to host 127.0.0.1")


async def test_the_sender_counts_outcomes_and_tells_the_oldest_pending_age(webhook_api, receiver):
    url, inbox = await receiver()
    answer = {"status": 500}
    inbox.respond = lambda received, attempt: web.Response(status=answer["status"])
    api = await webhook_api(webhook_retry_schedule=(0.3,) * 5)
    sender = api.client.app[WEBHOOK_SENDER]
    tenant = await api.tenant()
    await subscribe(api, tenant, url, eventTypes=["order.created"])
    await api.draft(tenant)
    await eventually(lambda: _true(sender.outcomes["retrying"] >= 2))
    assert await sender.oldest_pending_age() >= 0.3
    answer["status"] = 204
    await eventually(lambda: _true(sender.outcomes["succeeded"] == 1))
    assert sender.outcomes["failed"] == 0
    assert await sender.oldest_pending_age() == 0


async def _true(value: bool) -> bool:
    return value


async def test_a_retry_asked_for_during_a_send_is_not_lost(webhook_api, receiver):
    """The retry comes while the first send is in flight (its lease runs): that send's
    outcome is recorded, and then the delivery goes out once more."""
    url, inbox = await receiver()
    release = asyncio.Event()

    async def slow_first(received, attempt):
        if attempt == 1:
            await release.wait()
        return web.Response(status=204)

    inbox.respond = slow_first
    api = await webhook_api()
    tenant = await api.tenant()
    hook = await subscribe(api, tenant, url, eventTypes=["order.created"])
    await api.draft(tenant)
    await eventually(lambda: _true(len(inbox.received) == 1))
    (delivery,) = await deliveries(api, tenant, hook["id"])
    retry = f"/api/webhooks/{hook['id']}/deliveries/{delivery['id']}/retry"
    status, accepted = await api.call(tenant, "POST", retry)
    assert (status, accepted["status"]) == (202, "pending")
    release.set()
    await eventually(lambda: _count_of(inbox, delivery["eventId"], 2))
    done = await eventually(lambda: _first_with(api, tenant, hook["id"], status="succeeded", attempts=2))
    assert done["nextAttemptAt"] is None
    await asyncio.sleep(0.5)
    assert inbox.ids().count(delivery["eventId"]) == 2  # once more, not again and again
