"""The reference connector keeps the protocol's promises, in process and as `python -m service connector-sim`."""

from __future__ import annotations

import asyncio
import json
import signal

from service.execution import connector_sim
from tests.process import free_port, service_env, start, wait_for_status

REQUEST = {
    "orderId": 1,
    "itemId": 7,
    "accountId": 3,
    "sku": "MAIL",
    "quantity": 2,
    "billingCycle": "Monthly",
    "characteristics": {"domain": "example.com"},
}


async def _submit(client, key: str = "item-7", body=REQUEST):
    return await client.post("/provisioning", json=body, headers={"Idempotency-Key": key})


async def test_the_same_key_gets_the_same_operation_and_provisions_once(aiohttp_client):
    client = await aiohttp_client(connector_sim.create_app(delay=0))
    first, again = await _submit(client), await _submit(client)
    assert first.status == again.status == 202
    operation = (await first.json())["operationId"]
    assert (await again.json())["operationId"] == operation
    await _submit(client, "item-8", {**REQUEST, "itemId": 8})
    assert await (await client.get("/stats")).json() == {
        "submissions": {"item-7": 2, "item-8": 1},
        "provisioned": 2,
    }
    progress = await client.get(f"/provisioning/{operation}")
    assert await progress.json() == {"status": "Completed", "subscriptionId": "sim-sub-7"}


async def test_operations_complete_after_the_delay(aiohttp_client):
    client = await aiohttp_client(connector_sim.create_app(delay=0.3))
    operation = (await (await _submit(client)).json())["operationId"]
    assert (await (await client.get(f"/provisioning/{operation}")).json())["status"] == "In Progress"
    await asyncio.sleep(0.35)
    assert (await (await client.get(f"/provisioning/{operation}")).json())["status"] == "Completed"


async def test_failures_follow_the_rate_and_repeat_with_the_seed(aiohttp_client):
    async def outcomes(seed: int) -> list[str]:
        client = await aiohttp_client(connector_sim.create_app(failure_rate=0.5, seed=seed))
        statuses = []
        for item in range(40):
            body = {**REQUEST, "itemId": item}
            operation = (await (await _submit(client, f"item-{item}", body)).json())["operationId"]
            statuses.append((await (await client.get(f"/provisioning/{operation}")).json())["status"])
        return statuses

    first, second = await outcomes(3), await outcomes(3)
    assert first == second
    assert {"Completed", "Failed"} == set(first)


async def test_requests_outside_the_protocol_are_refused(aiohttp_client):
    client = await aiohttp_client(connector_sim.create_app())
    assert (await client.post("/provisioning", json=REQUEST)).status == 400
    assert (await _submit(client, body={**REQUEST, "quantity": "two"})).status == 400
    assert (await client.post("/provisioning", data=b"{", headers={"Idempotency-Key": "k"})).status == 400
    assert (await client.get("/provisioning/op-unknown")).status == 404
    assert await (await client.get("/stats")).json() == {"submissions": {}, "provisioned": 0}


def test_the_command_serves_until_sigterm():
    port = free_port()
    process = start(["connector-sim", "--port", str(port), "--delay", "0"], env=service_env())
    try:
        wait_for_status(f"http://127.0.0.1:{port}/stats", 200, within=20, process=process)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert json.loads(out.splitlines()[0]) == {"connectorSim": f"http://127.0.0.1:{port}"}


def test_the_command_refuses_a_failure_rate_outside_0_to_1():
    process = start(["connector-sim", "--failure-rate", "1.5"], env=service_env())
    out, err = process.communicate(timeout=20)
    assert process.returncode == 2
    assert "must be between 0 and 1" in err


async def test_it_changes_and_cancels_the_subscriptions_it_provisioned(aiohttp_client):
    client = await aiohttp_client(connector_sim.create_app(delay=0))

    async def run(key: str, body: dict) -> dict:
        response = await _submit(client, key, body)
        assert response.status == 202, await response.text()
        operation = (await response.json())["operationId"]
        return await (await client.get(f"/provisioning/{operation}")).json()

    bought = await run("item-7", {**REQUEST, "action": "purchase"})
    assert bought == {"status": "Completed", "subscriptionId": "sim-sub-7"}
    change = {**REQUEST, "itemId": 8, "action": "changeQuantity", "subscriptionId": "sim-sub-7", "quantity": 5}
    assert await run("item-8", change) == {"status": "Completed", "subscriptionId": "sim-sub-7"}
    assert await (await client.get("/subscriptions")).json() == {"sim-sub-7": {"quantity": 5, "status": "Active"}}
    cancel = {**REQUEST, "itemId": 9, "action": "cancel", "subscriptionId": "sim-sub-7", "quantity": 0}
    assert (await run("item-9", cancel))["status"] == "Completed"
    assert await (await client.get("/subscriptions")).json() == {"sim-sub-7": {"quantity": 0, "status": "Cancelled"}}
    # A change of a cancelled subscription is refused (the item fails); a repeat of an accepted key is not.
    refused = await _submit(client, "item-10", {**change, "itemId": 10})
    assert refused.status == 409 and "cancelled" in (await refused.json())["detail"]
    assert (await _submit(client, "item-8", change)).status == 202
    # One it never saw (it keeps nothing across restarts) is taken as given.
    assert (await run("item-11", {**change, "itemId": 11, "subscriptionId": "from-before"}))["status"] == "Completed"
    for body in ({**REQUEST, "action": "upgrade"}, {**REQUEST, "action": "cancel"},
                 {**change, "subscriptionId": 7}):
        assert (await _submit(client, "item-12", body)).status == 400, body
