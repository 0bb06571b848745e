"""`python -m service rotate-secret-key` while replicas serve: everything is re-sealed
under the new SECRET_KEY, secrets keep working, and a replica that still has only the
old key answers 503 for what it cannot open instead of breaking."""

from __future__ import annotations

import asyncio

from service import secretbox
from service.app import create_app
from service.secretbox import key_text
from service.state import WEBHOOK_DISPATCHER, WEBHOOK_SENDER
from tests.api import PROBLEM, Api
from tests.keys import SECRET_KEY, SECRET_KEY_TEXT
from tests.process import service_env, start
from tests.webhook_support import deliveries, eventually, fast

NEW_KEY = bytes(range(100, 132))
KEY = "Idempotency-Key"


async def _rotate(dsn: str, **env: str) -> tuple[int, str, str]:
    process = start(["rotate-secret-key"], env=service_env(DATABASE_URL=dsn, **env))
    out, err = await asyncio.to_thread(process.communicate, timeout=60)
    return process.returncode, out, err


async def _sealed_key_ids(conn) -> set[bytes]:
    values = await conn.fetch(
        "SELECT private_key AS v FROM signing_keys UNION ALL SELECT signing_secret FROM webhooks"
        " UNION ALL SELECT body FROM idempotency_keys WHERE substring(body FROM 1 FOR 1) = '\\x00'::bytea"
    )
    return {secretbox.sealed_key_id(row["v"]) for row in values}


async def _app(aiohttp_client, settings, **changes) -> Api:
    """Another replica on the test's database, with these settings (keys) changed."""
    app = create_app(fast(settings, **changes), dsn=settings.database_url)
    return Api(await aiohttp_client(app))


async def test_rotation_reseals_everything_while_replicas_serve(settings, aiohttp_client, receiver, conn):
    url, inbox = await receiver()
    serving = await _app(aiohttp_client, settings, webhook_poll_interval_seconds=3600)
    tenant = await serving.tenant()
    body = {"url": url}
    headers = {**tenant.headers, KEY: "hook-1"}
    response = await serving.client.post("/api/webhooks", json=body, headers=headers)
    assert response.status == 201
    hook = await response.json()
    assert await _sealed_key_ids(conn) == {secretbox.key_id(SECRET_KEY)}

    code, out, err = await _rotate(settings.database_url, SECRET_KEY=key_text(NEW_KEY), OLD_SECRET_KEY=SECRET_KEY_TEXT)
    assert code == 0, err
    assert "1 signing key(s), 1 webhook secret(s), 1 stored answer(s)" in out
    assert await _sealed_key_ids(conn) == {secretbox.key_id(NEW_KEY)}
    code, out, err = await _rotate(settings.database_url, SECRET_KEY=key_text(NEW_KEY), OLD_SECRET_KEY=SECRET_KEY_TEXT)
    assert (code, "0 signing key(s), 0 webhook secret(s), 0 stored answer(s)" in out) == (0, True), err

    # The replica still on the old key alone keeps serving: tokens (with the key it holds),
    # reads; a replay it cannot open answers 503 with Retry-After, never a 500.
    tenant.token = await serving.token(tenant.client_id, tenant.client_secret)
    assert (await serving.client.get("/api/orders", headers=tenant.headers)).status == 200
    response = await serving.client.post("/api/webhooks", json=body, headers={**tenant.headers, KEY: "hook-1"})
    assert response.status == 503 and response.headers["Retry-After"]
    assert (await response.json(content_type=PROBLEM))["code"] == "secret_key_unavailable"
    # Its sender leaves a delivery it cannot sign to another replica: no attempt is counted.
    await serving.draft(tenant)
    await serving.client.app[WEBHOOK_DISPATCHER].run_once()
    assert await serving.client.app[WEBHOOK_SENDER].run_once() == 1  # claimed
    await asyncio.sleep(0.3)  # a send to a local receiver would have arrived
    assert [d["attempts"] for d in await deliveries(serving, tenant, hook["id"])] == [0]
    assert inbox.received == []

    # A replica with the new key (OLD_SECRET_KEY still set during the rollout, or not) opens it all.
    for keys in ({"secret_key": NEW_KEY, "old_secret_key": SECRET_KEY}, {"secret_key": NEW_KEY}):
        rotated = await _app(aiohttp_client, settings, **keys)
        response = await rotated.client.post("/api/webhooks", json=body, headers={**tenant.headers, KEY: "hook-1"})
        assert response.status == 201 and response.headers["Idempotent-Replayed"] == "true"
        assert (await response.json())["secret"] == hook["secret"]
        assert await rotated.token(tenant.client_id, tenant.client_secret)
    await conn.execute("UPDATE webhook_deliveries SET lease_until = NULL")  # the old replica's lease, run out
    await eventually(lambda: _arrived(inbox))
    assert [e["type"] for e in inbox.verified(hook["secret"])] == ["order.created"]


async def _arrived(inbox) -> bool:
    return bool(inbox.received)


async def test_first_letting_every_replica_read_the_new_key_avoids_even_those_503s(settings, aiohttp_client):
    """The rollout docs/how-to/secrets.md gives for no 503 at all: every replica first reads the new
    key (as OLD_SECRET_KEY) while it still seals with the old one."""
    sealing_new = await _app(aiohttp_client, settings, secret_key=NEW_KEY, old_secret_key=SECRET_KEY)
    tenant = await sealing_new.tenant()
    headers = {**tenant.headers, KEY: "hook-2"}
    body = {"url": "http://127.0.0.1:9/hooks"}
    created = await sealing_new.client.post("/api/webhooks", json=body, headers=headers)
    assert created.status == 201
    reading_new = await _app(aiohttp_client, settings, secret_key=SECRET_KEY, old_secret_key=NEW_KEY)
    replayed = await reading_new.client.post("/api/webhooks", json=body, headers=headers)
    assert replayed.status == 201 and await replayed.json() == await created.json()


async def test_rotation_refuses_without_both_keys_or_with_a_key_that_does_not_open(settings):
    dsn = settings.database_url
    code, _, err = await _rotate(dsn, SECRET_KEY=key_text(NEW_KEY))
    assert code == 2
    assert err.strip().splitlines() == [
        "error: rotate-secret-key needs SECRET_KEY (the new key) and OLD_SECRET_KEY (the one it replaces)"
    ]
    wrong = key_text(bytes(32))
    code, _, err = await _rotate(dsn, SECRET_KEY=key_text(NEW_KEY), OLD_SECRET_KEY=wrong)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert f"sealed under key id {secretbox.key_id(SECRET_KEY).hex()}" in line and "OLD_SECRET_KEY" in line
    assert wrong not in err and SECRET_KEY_TEXT not in err
