"""`python -m service webhook-receiver`, and the receiver `serve --demo` subscribes."""

from __future__ import annotations

import asyncio
import datetime
import json
import signal

import aiohttp
from standardwebhooks import Webhook

from service.demo import seed, start_connector
from service.state import SERVICES, WEBHOOK_DISPATCHER, WEBHOOK_SENDER
from service.webhooks import receiver as webhook_receiver
from service.webhooks import signing
from tests.process import free_port, service_env, start, wait_for_status
from tests.webhook_support import eventually

EVENT = {"id": "evt_9", "type": "order.created", "data": {}}


def _signed(secret: str, message_id: str = "evt_9") -> tuple[bytes, dict[str, str]]:
    body = json.dumps(EVENT).encode()
    now = datetime.datetime.now(datetime.UTC)
    signature = Webhook(secret).sign(message_id, now, body.decode())
    return body, {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }


async def test_the_receiver_command_prints_verified_deliveries_and_refuses_bad_signatures():
    secret = signing.secret_of(signing.new_key())
    port = free_port()
    process = start(
        ["webhook-receiver", "--port", str(port), "--secret", secret, "--fail-first", "1"], env=service_env()
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(wait_for_status, f"{url}/stats", 200, within=20, process=process)
        body, headers = _signed(secret)
        async with aiohttp.ClientSession() as session:
            statuses = []
            for sent_headers in (headers, headers, {**headers, "webhook-id": "evt_10"}):
                async with session.post(f"{url}/hooks", data=body, headers=sent_headers) as response:
                    statuses.append(response.status)
            other_secret = signing.secret_of(signing.new_key())
            async with session.post(f"{url}/hooks", data=body, headers=_signed(other_secret)[1]) as response:
                statuses.append(response.status)
        # Failed on purpose once, then accepted; a signature over another id, or
        # with another secret, is refused.
        assert statuses == [500, 204, 400, 400]
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.to_thread(process.communicate, timeout=10)
    assert process.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [{"webhookId": "evt_9", "attempt": 2, "event": EVENT}]
    assert json.loads(err.splitlines()[0]) == {"webhookReceiver": f"{url}/webhooks"}


async def test_the_receiver_command_refuses_a_secret_that_is_not_one():
    process = start(["webhook-receiver", "--port", "0", "--secret", "whsec_!!"], env=service_env())
    _, err = await asyncio.to_thread(process.communicate, timeout=20)
    assert process.returncode == 2
    assert err.strip().startswith("error: --secret:")


async def test_the_demo_subscribes_its_receiver_and_the_demo_order_arrives(webhook_api):
    api = await webhook_api(webhook_poll_interval_seconds=3600)
    app = api.client.server.app
    printed: list[str] = []
    connector, connector_url = await start_connector(delay=0)
    receiver, receiver_url = await webhook_receiver.start(show=printed.append)
    try:
        first = await seed(app[SERVICES], connector_url=connector_url, receiver_url=receiver_url)
        again = await seed(app[SERVICES], connector_url=connector_url, receiver_url=receiver_url + "?again")
        # One webhook, pointed at this start's receiver, its secret the same.
        assert again.webhook == dict(first.webhook, url=receiver_url + "?again")
        receiver.app[webhook_receiver.RECEIVER].use_secret(first.webhook["secret"])
        token = await api.token(first.credentials["clientId"], first.credentials["clientSecret"])
        demo = type("DemoTenant", (), {"headers": {"Authorization": f"Bearer {token}"}})()
        status, order = await api.call(demo, "POST", "/api/orders", {"accountId": first.customer_id})
        assert status == 201

        async def arrived():
            await app[WEBHOOK_DISPATCHER].run_once()
            await app[WEBHOOK_SENDER].run_once()
            return printed

        (line,) = await eventually(arrived)
        delivered = json.loads(line)
        assert delivered["event"]["type"] == "order.created"
        assert delivered["event"]["orderId"] == order["id"]
        assert delivered["attempt"] == 1 and delivered["webhookId"] == delivered["event"]["id"]
    finally:
        await receiver.cleanup()
        await connector.cleanup()
