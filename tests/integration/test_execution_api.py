"""Execution as a reseller sees it: checkout through the API, progress on the status endpoint."""

from __future__ import annotations

import asyncio
import time

from service.state import POLLER


async def _status_until_final(api, tenant, order_id: int, within: float = 15.0) -> dict:
    poller = api.client.app[POLLER]
    started = time.monotonic()
    while time.monotonic() - started < within:
        await poller.run_once()
        status, body = await api.call(tenant, "GET", f"/api/orders/{order_id}/execute/status")
        assert status == 200, body
        if body["status"] in ("Completed", "Partially Completed", "Failed"):
            return body
        await asyncio.sleep(0.02)
    raise AssertionError(f"order {order_id} not final within {within}s: {body}")


async def test_a_checked_out_order_is_provisioned_and_reported_through_the_api(api, simulator):
    url, _ = await simulator(delay=0.1)
    tenant = await api.tenant()
    instant = await api.product()
    remote = await api.product(fulfillment={"type": "http", "url": url})
    order = await api.draft(tenant, tenant.customer_id)
    first = await api.item(tenant, order["id"], instant)
    second = await api.item(tenant, order["id"], remote)
    status, checked_out = await api.call(tenant, "POST", f"/api/orders/{order['id']}/checkout")
    assert (status, checked_out["status"]) == (202, "Pending")

    report = await _status_until_final(api, tenant, order["id"])
    assert report["status"] == "Completed"
    assert report["startedAt"] and report["completedAt"]
    assert report["progress"] == {"total": 2, "completed": 2, "failed": 0, "inProgress": 0, "pending": 0}
    # Each item names the subscription it became, by our id; the connector's id is its externalId.
    subscriptions = {i["itemId"]: i["subscriptionId"] for i in report["items"]}
    external = {}
    for item_id, subscription_id in subscriptions.items():
        status, subscription = await api.call(tenant, "GET", f"/api/subscriptions/{subscription_id}")
        assert (status, subscription["itemId"], str(subscription["id"])) == (200, item_id, subscription_id)
        external[item_id] = subscription["externalId"]
    assert external == {first["id"]: f"sub-{first['id']}", second["id"]: f"sim-sub-{second['id']}"}
    status, item = await api.call(tenant, "GET", f"/api/orders/{order['id']}/items/{second['id']}")
    assert (status, item["status"], item["subscriptionId"]) == (200, "Completed", subscriptions[second["id"]])


async def test_a_declined_item_is_reported_with_its_message(api, simulator):
    url, _ = await simulator(failure_rate=1.0)
    tenant = await api.tenant()
    instant = await api.product()
    remote = await api.product(fulfillment={"type": "http", "url": url})
    order = await api.draft(tenant)
    await api.item(tenant, order["id"], instant)
    declined = await api.item(tenant, order["id"], remote)
    status, _ = await api.call(tenant, "POST", f"/api/orders/{order['id']}/checkout")
    assert status == 202

    report = await _status_until_final(api, tenant, order["id"])
    assert report["status"] == "Partially Completed"
    (failed,) = [i for i in report["items"] if i["status"] == "Failed"]
    assert failed["itemId"] == declined["id"]
    assert failed["message"] == f"the provider declined item {declined['id']}"
    status, body = await api.call(tenant, "GET", f"/api/orders/{order['id']}")
    assert body["status"] == "Partially Completed"
