"""Idempotency-Key on every POST under /api, through real HTTP: a repeat is
answered from the first answer and applied once; the key is free again after a
5xx; the in-process app and the test's database connection share one server."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import uuid

import pytest

from service.app import create_app
from service.db import Database
from service.execution.expiry import IdempotencyKeyPurge
from service.http.idempotency import key_digest, unpack_answer
from tests.api import PROBLEM
from tests.execution_support import QUERIES
from tests.locks import order_held, waiting_for_locks

KEY = "Idempotency-Key"


def keyed(tenant, key: str, **more: str) -> dict[str, str]:
    return {**tenant.headers, KEY: key, **more}


async def send(api, tenant, method: str, path: str, body=None, *, key: str, raw: bytes | None = None):
    """One request with a key; (status, headers, exact body bytes)."""
    headers = keyed(tenant, key)
    if raw is not None:
        headers["Content-Type"] = "application/json"
        response = await api.client.request(method, path, data=raw, headers=headers)
    else:
        response = await api.client.request(method, path, json=body, headers=headers)
    return response.status, response.headers, await response.read()


async def events(conn, order_id: int) -> list[str]:
    rows = await conn.fetch("SELECT type FROM order_events WHERE order_id = $1 ORDER BY id", order_id)
    return [row["type"] for row in rows]


async def stored_keys(conn) -> int:
    return await conn.fetchval("SELECT count(*) FROM idempotency_keys")


async def stored_answer(conn, tenant, key: str) -> tuple[int, dict, bytes]:
    """The answer stored for the tenant's credential and key: status, headers, body."""
    row = await conn.fetchrow(
        "SELECT status, headers, body FROM idempotency_keys WHERE reseller_id = $1 AND digest = $2",
        tenant.reseller_id,
        key_digest(tenant.reseller_id, tenant.client_id, key),
    )
    headers, body = unpack_answer(bytes(row["body"]))
    return row["status"], headers, body


@pytest.fixture
async def shop(api):
    tenant = await api.tenant()
    product = await api.product()
    return tenant, product


def item_body(product: dict, quantity: int = 1) -> dict:
    return {"productId": product["id"], "quantity": quantity, "billingCycle": "Monthly"}


async def test_a_repeated_create_is_replayed_byte_for_byte_and_creates_one_order(api, conn, shop):
    tenant, _ = shop
    key = str(uuid.uuid4())
    body = {"accountId": tenant.account_id, "notes": "first"}
    first = await send(api, tenant, "POST", "/api/orders", body, key=key)
    again = await send(api, tenant, "POST", "/api/orders", body, key=key)
    assert first[0] == again[0] == 201
    assert again[2] == first[2]
    assert again[1]["Location"] == first[1]["Location"] == f"/api/orders/{json.loads(first[2])['id']}"
    assert again[1]["Content-Type"] == first[1]["Content-Type"] == "application/json"
    assert again[1]["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first[1]
    assert again[1]["X-Request-Id"] != first[1]["X-Request-Id"]  # each request still has its own id
    assert await conn.fetchval("SELECT count(*) FROM orders") == 1


async def test_every_post_is_applied_once_when_repeated(api, conn, shop):
    """Add item, checkout, approve and cancel: each repeat is a replay with the
    first status, body and Location, and the order's events show one change."""
    tenant, product = shop
    approver = await api.colleague(tenant)
    await api.call(tenant, "PUT", "/api/settings", {"approvalRequired": True})
    orders = [(await api.draft(tenant))["id"] for _ in range(2)]
    steps = []
    for order_id, decision, decision_body in (
        (orders[0], "approve", None),
        (orders[1], "cancel", {"reason": "no"}),
    ):
        steps += [
            (tenant, f"/api/orders/{order_id}/items", item_body(product), 201),
            (tenant, f"/api/orders/{order_id}/checkout", None, 202),
            (
                approver,
                f"/api/orders/{order_id}/{decision}",
                decision_body,
                202 if decision == "approve" else 200,
            ),
        ]
    for who, path, body, expected in steps:
        key = str(uuid.uuid4())
        first = await send(api, who, "POST", path, body, key=key)
        again = await send(api, who, "POST", path, body, key=key)
        assert first[0] == expected, first
        assert (again[0], again[2], again[1].get("Location")) == (
            first[0],
            first[2],
            first[1].get("Location"),
        )
        assert again[1]["Idempotent-Replayed"] == "true"
    assert await events(conn, orders[0]) == [
        "order.created",
        "order.item_added",
        "order.checked_out",
        "order.status_changed",
        "order.approval_requested",
        "order.approved",
        "order.status_changed",
    ]
    assert (await events(conn, orders[1]))[-2:] == ["order.cancelled", "order.status_changed"]
    assert await conn.fetchval("SELECT count(*) FROM executions WHERE order_id = $1", orders[0]) == 1


async def test_the_body_is_compared_as_parsed_json_and_another_request_is_refused(api, conn, shop):
    tenant, product = shop
    order = await api.draft(tenant)
    path = f"/api/orders/{order['id']}/items"
    key = "retry-me"
    first = await send(api, tenant, "POST", path, key=key, raw=json.dumps(item_body(product)).encode())
    assert first[0] == 201
    # Other key order and whitespace: the same request.
    reordered = json.dumps(dict(reversed(list(item_body(product).items()))), indent=2).encode()
    same = await send(api, tenant, "POST", path, key=key, raw=reordered)
    assert (same[0], same[2], same[1]["Idempotent-Replayed"]) == (201, first[2], "true")

    other_order = await api.draft(tenant)
    for method, other_path, raw in (
        ("POST", path, json.dumps(item_body(product, quantity=2)).encode()),  # another body
        ("POST", f"/api/orders/{other_order['id']}/items", json.dumps(item_body(product)).encode()),
        ("POST", "/api/orders", json.dumps({"accountId": tenant.account_id}).encode()),
    ):
        status, headers, body = await send(api, tenant, method, other_path, key=key, raw=raw)
        assert status == 422, body
        assert headers["Content-Type"] == PROBLEM
        assert json.loads(body)["code"] == "idempotency_key_reused"
        assert "Idempotent-Replayed" not in headers
    # The refusals changed nothing, and the first answer is still the key's.
    assert await conn.fetchval("SELECT count(*) FROM order_items") == 1
    assert await conn.fetchval("SELECT count(*) FROM orders") == 2
    assert (await send(api, tenant, "POST", path, item_body(product), key=key))[2] == first[2]


async def test_keys_belong_to_one_credential(api, conn, shop):
    tenant, _ = shop
    other = await api.tenant(name="Other Cloud")
    key = "shared-key"
    mine = await send(api, tenant, "POST", "/api/orders", {"accountId": tenant.account_id}, key=key)
    theirs = await send(api, other, "POST", "/api/orders", {"accountId": other.account_id}, key=key)
    assert mine[0] == theirs[0] == 201
    assert "Idempotent-Replayed" not in theirs[1]
    assert json.loads(theirs[2])["accountId"] == other.account_id
    assert await conn.fetchval("SELECT count(DISTINCT reseller_id) FROM orders") == 2
    # A colleague of the same reseller runs its own request with the same key, and never
    # sees the first one's answer: not for the same request, not for another one.
    colleague = await api.colleague(tenant)
    again = await send(api, colleague, "POST", "/api/orders", {"accountId": tenant.account_id}, key=key)
    assert again[0] == 201 and "Idempotent-Replayed" not in again[1]
    assert json.loads(again[2])["id"] != json.loads(mine[2])["id"]
    other_request = await send(api, colleague, "POST", "/api/orders", {"accountId": tenant.customer_id}, key="k2")
    assert other_request[0] == 201
    assert await conn.fetchval("SELECT count(*) FROM orders WHERE reseller_id = $1", tenant.reseller_id) == 3
    # Each credential's repeat replays its own answer.
    assert (await send(api, colleague, "POST", "/api/orders", {"accountId": tenant.account_id}, key=key))[2] == again[2]
    assert (await send(api, tenant, "POST", "/api/orders", {"accountId": tenant.account_id}, key=key))[2] == mine[2]


async def test_an_answer_stored_before_keys_were_per_credential_stays_the_resellers(api, conn, shop):
    """Rows from before migration 0010 carry no credential (client_id ''): a retry sent
    across the upgrade, by whichever credential, is still applied once."""
    tenant, _ = shop
    body = {"accountId": tenant.account_id}
    first = await send(api, tenant, "POST", "/api/orders", body, key="from-before")
    # The row as a v3.1 service stored it, after migrations 0010 and 0013: no credential
    # (client_id ''), its headers and body in their own columns, its digest made by 0013.
    _status, headers, answer = await stored_answer(conn, tenant, "from-before")
    await conn.execute(
        "UPDATE idempotency_keys SET client_id = '', key = 'from-before', headers = $2, body = $3,"
        " digest = sha256(int8send(reseller_id) || '\\x00'::bytea || convert_to('from-before', 'UTF8'))"
        " WHERE reseller_id = $1",
        tenant.reseller_id,
        json.dumps(headers),
        answer,
    )
    colleague = await api.colleague(tenant)
    again = await send(api, colleague, "POST", "/api/orders", body, key="from-before")
    assert (again[0], again[2], again[1]["Idempotent-Replayed"]) == (201, first[2], "true")
    assert await conn.fetchval("SELECT count(*) FROM orders") == 1


async def test_a_colleague_never_sees_a_refusal_or_a_secret_stored_for_another_credential(api, conn, shop):
    """The issue's two leaks: a 403 approver_is_submitter and a webhook's secret came back to
    another credential that sent the same key."""
    tenant, product = shop
    approver = await api.colleague(tenant)
    await api.call(tenant, "PUT", "/api/settings", {"approvalRequired": True})
    order = await api.draft(tenant)
    await api.item(tenant, order["id"], product)
    assert (await api.call(tenant, "POST", f"/api/orders/{order['id']}/checkout"))[0] == 202
    path = f"/api/orders/{order['id']}/approve"
    refused = await send(api, tenant, "POST", path, key="decide")
    assert json.loads(refused[2])["code"] == "approver_is_submitter"
    approved = await send(api, approver, "POST", path, key="decide")
    assert approved[0] == 202 and "Idempotent-Replayed" not in approved[1]
    assert json.loads(approved[2])["status"] == "Pending"


@pytest.mark.parametrize("bad", ["", " ", "x" * 256, "caf\u00e9", "tab\there", ["a", "b"]])
async def test_a_malformed_key_is_refused_and_nothing_happens(api, conn, shop, bad):
    tenant, _ = shop
    headers = [(name, value) for name, value in tenant.headers.items()]
    headers += [(KEY, value) for value in (bad if isinstance(bad, list) else [bad])]
    response = await api.client.post("/api/orders", json={"accountId": tenant.account_id}, headers=headers)
    assert response.status == 400
    assert (await response.json(content_type=PROBLEM))["code"] == "invalid_idempotency_key"
    assert await conn.fetchval("SELECT count(*) FROM orders") == 0


async def test_keys_of_255_printable_characters_are_taken(api, shop):
    tenant, _ = shop
    for key in ("x" * 255, '"8e03978e-40d5-43e8-bc93-6894a57f9324"', "a b~!{}"):
        status, _, _ = await send(
            api, tenant, "POST", "/api/orders", {"accountId": tenant.account_id}, key=key
        )
        assert status == 201, key


async def test_a_refused_request_is_stored_too_even_one_the_database_refused(api, conn, shop):
    """A 4xx is an answer: replayed, even after the state that caused it changed.
    The total that overflows fails inside the database; its 422 is still stored,
    which needs the handler's own savepoint (the failed statement would
    otherwise abort the transaction the answer is stored in)."""
    tenant, product = shop
    order = await api.draft(tenant)
    path = f"/api/orders/{order['id']}/items"
    huge = await api.product(unitPrices={"Monthly": "999999999999.99", "Annually": "1.00"})
    overflow = item_body(huge, quantity=100_000)
    for _ in range(10):  # the total still fits numeric(20, 2); the 11th does not
        await api.item(tenant, order["id"], huge, quantity=100_000)
    first = await send(api, tenant, "POST", path, overflow, key="too-big")
    assert first[0] == 422 and json.loads(first[2])["errors"][0]["code"] == "total_too_large"
    again = await send(api, tenant, "POST", path, overflow, key="too-big")
    assert (again[0], again[2], again[1]["Idempotent-Replayed"]) == (422, first[2], "true")

    empty_order = await api.draft(tenant)
    checkout = f"/api/orders/{empty_order['id']}/checkout"
    empty = await send(api, tenant, "POST", checkout, key="too-soon")
    assert empty[0] == 422 and json.loads(empty[2])["code"] == "order_empty"
    await api.item(tenant, empty_order["id"], product)
    replayed = await send(api, tenant, "POST", checkout, key="too-soon")
    assert (replayed[0], replayed[2]) == (422, empty[2])
    fresh = await send(api, tenant, "POST", checkout, key="now")
    assert fresh[0] == 202
    assert await stored_keys(conn) == 3


async def test_a_call_the_credential_may_not_make_is_not_stored_and_replays_nothing(api, conn, shop):
    tenant, _ = shop
    body = {"accountId": tenant.account_id}
    first = await send(api, tenant, "POST", "/api/orders", body, key="k1")
    reader = await api.colleague(tenant, ["orders:read"])
    for _ in range(2):
        status, headers, raw = await send(api, reader, "POST", "/api/orders", body, key="k1")
        assert status == 403 and json.loads(raw)["code"] == "insufficient_scope"
        assert "Idempotent-Replayed" not in headers
    assert first[0] == 201
    assert await stored_keys(conn) == 1


async def test_a_second_request_while_the_first_runs_answers_409_with_retry_after(api, conn, dsn, shop):
    tenant, product = shop
    order = await api.draft(tenant)
    path = f"/api/orders/{order['id']}/items"
    async with order_held(dsn, order["id"]):
        first = asyncio.ensure_future(send(api, tenant, "POST", path, item_body(product), key="slow"))
        await waiting_for_locks(conn, 1)  # the first is inside its transaction, holding the key
        # At once: it does not queue behind the first.
        second = send(api, tenant, "POST", path, item_body(product), key="slow")
        status, headers, body = await asyncio.wait_for(second, 5)
        assert status == 409, body
        assert json.loads(body)["code"] == "idempotency_key_in_progress"
        assert headers["Retry-After"] == "1"
        # Another key is not held up by this one (it waits for the order, like the first).
        other = asyncio.ensure_future(send(api, tenant, "POST", path, item_body(product), key="other"))
        await waiting_for_locks(conn, 2)
        assert not first.done()
    assert (await first)[0] == 201 and (await other)[0] == 201
    replay = await send(api, tenant, "POST", path, item_body(product), key="slow")
    assert (replay[0], replay[2]) == (201, (await first)[2])
    assert await conn.fetchval("SELECT count(*) FROM order_items") == 2


async def test_a_5xx_stores_nothing_and_leaves_the_key_free(api, conn, dsn, shop):
    """The request's database session dies while it waits: the answer is a 5xx,
    nothing was applied, and a retry with the key runs the request."""
    tenant, product = shop
    order = await api.draft(tenant)
    path = f"/api/orders/{order['id']}/items"
    async with order_held(dsn, order["id"]):
        first = asyncio.ensure_future(send(api, tenant, "POST", path, item_body(product), key="doomed"))
        (pid,) = await waiting_for_locks(conn, 1)
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
        status, _, body = await first
    assert status >= 500, body
    assert await stored_keys(conn) == 0
    assert await conn.fetchval("SELECT count(*) FROM order_items") == 0
    retry = await send(api, tenant, "POST", path, item_body(product), key="doomed")
    assert retry[0] == 201 and "Idempotent-Replayed" not in retry[1]
    assert await conn.fetchval("SELECT count(*) FROM order_items") == 1


async def test_an_expired_key_runs_the_request_again(api, conn, shop):
    tenant, _ = shop
    body = {"accountId": tenant.account_id}
    first = await send(api, tenant, "POST", "/api/orders", body, key="old")
    await conn.execute("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'")
    again = await send(api, tenant, "POST", "/api/orders", body, key="old")
    assert again[0] == 201 and "Idempotent-Replayed" not in again[1]
    assert json.loads(again[2])["id"] != json.loads(first[2])["id"]
    # Stored anew, for a full lifetime.
    assert await conn.fetchval("SELECT expires_at > now() + interval '23 hours' FROM idempotency_keys")
    replay = await send(api, tenant, "POST", "/api/orders", body, key="old")
    assert replay[2] == again[2]


async def test_keys_are_ignored_where_they_do_not_apply(api, conn, shop):
    tenant, product = shop
    order = await api.draft(tenant)
    item = await api.item(tenant, order["id"], product)
    for method, path, body in (
        ("GET", f"/api/orders/{order['id']}", None),
        ("PUT", f"/api/orders/{order['id']}/customfields", []),
        ("DELETE", f"/api/orders/{order['id']}/items/{item['id']}", None),
    ):
        status, headers, _ = await send(api, tenant, method, path, body, key="x")
        assert status < 300 and "Idempotent-Replayed" not in headers
    assert await stored_keys(conn) == 0


async def test_the_document_states_the_key_on_every_post_under_api(client):
    document = await (await client.get("/api/openapi.json")).json()
    components = document["components"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            names = {p["$ref"].rsplit("/", 1)[-1] for p in operation["parameters"] if "$ref" in p}
            takes = method == "post" and path.startswith("/api/")
            assert (KEY in names) == takes, (method, path)
            if not takes:
                continue
            ok = next(r for status, r in operation["responses"].items() if status.startswith("2"))
            assert "Idempotent-Replayed" in ok["headers"], (method, path)
            codes = {
                status: set(r["x-problem-codes"])
                for status, r in operation["responses"].items()
                if "x-problem-codes" in r
            }
            assert "invalid_idempotency_key" in codes["400"], path
            assert "idempotency_key_in_progress" in codes["409"], path
            assert "idempotency_key_reused" in codes["422"], path
    assert components["parameters"][KEY]["schema"]["maxLength"] == 255


async def _keys(conn, reseller_id: int, count: int, *, expired: bool, prefix: str) -> None:
    """Stored answers of the keys prefix1 .. prefix<count> of the credential ro_test."""
    await conn.execute(
        "INSERT INTO idempotency_keys (reseller_id, digest, fingerprint, status, body, expires_at)"
        " SELECT $1, digest, '', 201, '', now() + CASE WHEN $3 THEN -1 ELSE 1 END * interval '1 hour'"
        " FROM unnest($2::bytea[]) AS digest",
        reseller_id,
        [key_digest(reseller_id, "ro_test", f"{prefix}{n}") for n in range(1, count + 1)],
        expired,
    )


async def _stored(conn, reseller_id: int, keys: list[str]) -> list[str]:
    """Which of these keys of the credential ro_test have a stored answer."""
    digests = {bytes(r["digest"]) for r in await conn.fetch("SELECT digest FROM idempotency_keys")}
    return [key for key in keys if key_digest(reseller_id, "ro_test", key) in digests]


async def test_the_purge_deletes_expired_keys_in_batches_and_nothing_else(api, conn, pool, caplog):
    tenant = await api.tenant()
    await _keys(conn, tenant.reseller_id, 25, expired=True, prefix="old-")
    await _keys(conn, tenant.reseller_id, 5, expired=False, prefix="live-")
    caplog.set_level(logging.INFO, logger="service.execution.expiry")
    purge = IdempotencyKeyPurge(db=Database(pool=pool, queries=QUERIES), batch_size=10)
    assert await purge.run_once() == 25
    (record,) = [r for r in caplog.records if r.getMessage() == "expired idempotency keys deleted"]
    assert (record.deleted, record.batches) == (25, 3)
    assert await stored_keys(conn) == 5
    keys = [f"{kind}-{n}" for kind in ("old", "live") for n in range(1, 26)]
    assert await _stored(conn, tenant.reseller_id, keys) == [f"live-{n}" for n in range(1, 6)]
    assert await purge.run_once() == 0


async def test_purges_running_at_once_split_the_keys_and_pass_over_a_locked_one(api, conn, pool):
    tenant = await api.tenant()
    await _keys(conn, tenant.reseller_id, 500, expired=True, prefix="old-")
    purges = [IdempotencyKeyPurge(db=Database(pool=pool, queries=QUERIES), batch_size=7) for _ in range(3)]
    async with conn.transaction():
        # A request replacing this expired key holds its row.
        await conn.execute(
            "SELECT 1 FROM idempotency_keys WHERE digest = $1 FOR UPDATE",
            key_digest(tenant.reseller_id, "ro_test", "old-1"),
        )
        deleted = await asyncio.wait_for(asyncio.gather(*(p.run_once() for p in purges)), 10)
    assert sum(deleted) == 499
    assert all(count > 0 for count in deleted)  # each took a share, none waited for another
    assert await stored_keys(conn) == 1
    assert await _stored(conn, tenant.reseller_id, ["old-1"]) == ["old-1"]


async def test_the_scheduler_purges_expired_keys(api, conn, dsn, settings, aiohttp_client):
    tenant = await api.tenant()
    await _keys(conn, tenant.reseller_id, 3, expired=True, prefix="old-")
    await _keys(conn, tenant.reseller_id, 1, expired=False, prefix="live-")
    await aiohttp_client(create_app(dataclasses.replace(settings, expire_interval_seconds=0.1), dsn=dsn))
    for _ in range(100):
        if await conn.fetchval("SELECT count(*) FROM idempotency_keys") == 1:
            break
        await asyncio.sleep(0.05)
    assert await stored_keys(conn) == 1
    assert await _stored(conn, tenant.reseller_id, ["live-1"]) == ["live-1"]


async def test_a_422_of_a_megabyte_of_unknown_fields_lists_50_and_is_stored_small(api, conn, shop):
    """The issue's 1 MiB of unknown keys came back as a 422 listing 2,001 errors, stored for a day."""
    tenant, _ = shop
    body = {"accountId": tenant.account_id, **{f"unknown{n:06d}" + "x" * 400: 1 for n in range(2400)}}
    raw = json.dumps(body).encode()
    assert 900_000 < len(raw) < 1024 * 1024
    status, _, answer = await send(api, tenant, "POST", "/api/orders", key="flood", raw=raw)
    problem = json.loads(answer)
    assert status == 422 and problem["code"] == "validation_error"
    assert len(problem["errors"]) == 50
    assert "(2350 more errors not listed)" in problem["detail"]
    assert all(len(error["field"]) <= 200 for error in problem["errors"])
    assert len(answer) < 64 * 1024
    assert await stored_answer(conn, tenant, "flood") == (422, {"Content-Type": PROBLEM}, answer)


async def test_an_answer_over_the_stored_bound_is_sent_whole_and_applied_once(api, conn, shop, monkeypatch):
    """Past MAX_STORED_ANSWER_BYTES the key keeps status and headers only: the first answer is
    complete, a repeat is a replay without a body, and the request ran once."""
    from service.http import idempotency

    monkeypatch.setattr(idempotency, "MAX_STORED_ANSWER_BYTES", 64)
    tenant, _ = shop
    body = {"accountId": tenant.account_id, "notes": "n" * 500}
    first = await send(api, tenant, "POST", "/api/orders", body, key="big")
    assert first[0] == 201 and json.loads(first[2])["notes"] == "n" * 500
    again = await send(api, tenant, "POST", "/api/orders", body, key="big")
    assert (again[0], again[2], again[1]["Idempotent-Replayed"]) == (201, b"", "true")
    assert again[1]["Location"] == first[1]["Location"]
    assert "Content-Type" not in again[1] or again[1]["Content-Type"] != "application/json"
    assert await conn.fetchval("SELECT count(*) FROM orders") == 1
    assert await stored_answer(conn, tenant, "big") == (201, {"Location": first[1]["Location"]}, b"")
