"""The subscriptions API: create (the secret once), read, change, delete; tenants,
editions and scopes; the URL rules, public addresses only, checked when saved."""

from __future__ import annotations

import base64

import pytest

from service.lifecycle import EVENT_TYPES
from service.state import WEBHOOK_DISPATCHER
from tests.webhook_support import PUBLIC_IP, FakeResolver, deliveries, subscribe

HOOK = f"https://{PUBLIC_IP}/hooks"
KEYS = {"id", "url", "eventTypes", "description", "enabled", "createdAt"}


async def test_create_shows_the_secret_once_and_every_read_leaves_it_out(api):
    tenant = await api.tenant()
    response = await api.client.post("/api/webhooks", json={"url": HOOK}, headers=tenant.headers)
    created = await response.json()
    assert response.status == 201
    assert response.headers["Location"] == f"/api/webhooks/{created['id']}"
    assert set(created) == KEYS | {"secret"}
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) == 32
    assert (created["url"], created["enabled"], created["description"]) == (HOOK, True, None)
    assert created["eventTypes"] == list(EVENT_TYPES)  # the default: every type

    status, read = await api.call(tenant, "GET", f"/api/webhooks/{created['id']}")
    assert status == 200 and read == {k: v for k, v in created.items() if k != "secret"}
    status, listed = await api.call(tenant, "GET", "/api/webhooks")
    assert listed == {"items": [read], "nextCursor": None}
    status, changed = await api.call(tenant, "PATCH", f"/api/webhooks/{created['id']}", {"enabled": True})
    assert "secret" not in changed
    # Two webhooks never share a secret.
    assert (await subscribe(api, tenant, HOOK))["secret"] != created["secret"]


async def test_patch_changes_only_what_it_sends_and_delete_removes(api):
    tenant = await api.tenant()
    created = await subscribe(
        api,
        tenant,
        HOOK,
        eventTypes=["order.status_changed", "order.created", "order.created"],
        description="ops",
    )
    path = f"/api/webhooks/{created['id']}"
    # Stored once each, in the lifecycle's order.
    assert created["eventTypes"] == ["order.created", "order.status_changed"]

    status, changed = await api.call(tenant, "PATCH", path, {"enabled": False})
    assert status == 200
    assert changed == dict({k: v for k, v in created.items() if k != "secret"}, enabled=False)
    other = f"https://{PUBLIC_IP}:8443/other?x=1"
    status, changed = await api.call(
        tenant, "PATCH", path, {"url": other, "description": None, "eventTypes": None}
    )
    assert (changed["url"], changed["description"], changed["eventTypes"]) == (other, None, list(EVENT_TYPES))
    assert (await api.call(tenant, "PATCH", path, {}))[1] == changed

    assert (await api.call(tenant, "DELETE", path))[0] == 204
    for method in ("GET", "PATCH", "DELETE"):
        assert (await api.call(tenant, method, path, {} if method == "PATCH" else None))[0] == 404
    assert (await api.call(tenant, "GET", f"{path}/deliveries"))[0] == 404


async def test_another_resellers_webhook_is_not_found_whatever_the_call(api):
    owner, stranger = await api.tenant(), await api.tenant(name="Other Cloud")
    created = await subscribe(api, owner, HOOK)
    path = f"/api/webhooks/{created['id']}"
    read_only = await api.colleague(stranger, ["orders:read"])
    for who, method, target, body in [
        (stranger, "GET", path, None),
        (stranger, "PATCH", path, {"enabled": False}),
        # 404 before the body is judged, and before the URL is resolved.
        (stranger, "PATCH", path, {"url": "http://127.0.0.1/"}),
        (stranger, "PATCH", path, {"eventTypes": ["no.such"]}),
        (stranger, "DELETE", path, None),
        (stranger, "GET", f"{path}/deliveries", None),
        (stranger, "POST", f"{path}/deliveries/1/retry", None),
        # 404 before the scope.
        (read_only, "PATCH", path, {"enabled": False}),
        (read_only, "DELETE", path, None),
    ]:
        status, problem = await api.call(who, method, target, body)
        assert (status, problem["code"]) == (404, "not_found"), (method, target, body)
    assert (await api.call(stranger, "GET", "/api/webhooks"))[1]["items"] == []
    status, still = await api.call(owner, "GET", path)
    assert still["enabled"] is True


async def test_the_free_edition_may_manage_webhooks(api):
    free = await api.tenant(edition="Free")
    assert (await api.call(free, "POST", "/api/orders", {"accountId": free.account_id}))[0] == 403
    created = await subscribe(api, free, HOOK)
    path = f"/api/webhooks/{created['id']}"
    assert (await api.call(free, "PATCH", path, {"description": "free too"}))[0] == 200
    assert (await api.call(free, "GET", f"{path}/deliveries"))[0] == 200
    assert (await api.call(free, "DELETE", path))[0] == 204


async def test_writes_need_orders_write_and_reads_orders_read(api):
    tenant = await api.tenant()
    created = await subscribe(api, tenant, HOOK)
    path = f"/api/webhooks/{created['id']}"
    reader = await api.colleague(tenant, ["orders:read"])
    writer = await api.colleague(tenant, ["orders:write"])
    for method, target, body in [
        ("POST", "/api/webhooks", {"url": HOOK}),
        ("PATCH", path, {"enabled": False}),
        ("DELETE", path, None),
        ("POST", f"{path}/deliveries/1/retry", None),
    ]:
        response = await api.client.request(method, target, json=body, headers=reader.headers)
        assert response.status in (403, 404), (method, target)
        if response.status == 403:
            assert (await response.json())["code"] == "insufficient_scope"
            assert 'scope="orders:write"' in response.headers["WWW-Authenticate"]
    assert (await api.call(reader, "GET", path))[0] == 200
    for target in ("/api/webhooks", path, f"{path}/deliveries"):
        status, problem = await api.call(writer, "GET", target)
        assert (status, problem["code"]) == (403, "insufficient_scope")
    assert (await api.call(writer, "PATCH", path, {"description": "writer"}))[0] == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/hooks"}, "url"),
        ({"url": "https:///no-host"}, "url"),
        ({"url": "hooks.example.com/orders"}, "url"),
        ({"url": f"https://user:pw@{PUBLIC_IP}/hooks"}, "url"),
        ({"url": f"https://{PUBLIC_IP}/" + "a" * 2030}, "url"),
        ({"url": f"https://{PUBLIC_IP}/a b"}, "url"),
        ({"url": 42}, "url"),
        ({}, "url"),
        ({"url": HOOK, "eventTypes": ["order.shipped"]}, "eventTypes[0]"),
        ({"url": HOOK, "eventTypes": []}, "eventTypes"),
        ({"url": HOOK, "enabled": "yes"}, "enabled"),
        ({"url": HOOK, "description": "x" * 501}, "description"),
        ({"url": HOOK, "secret": "mine", "colour": "red"}, "colour"),
    ],
)
async def test_bodies_breaking_the_rules_answer_422_naming_the_field(api, body, field):
    tenant = await api.tenant()
    status, problem = await api.call(tenant, "POST", "/api/webhooks", body)
    assert (status, problem["code"]) == (422, "validation_error"), problem
    assert field in [error["field"] for error in problem["errors"]], problem


async def test_a_url_of_2048_characters_is_accepted(api):
    tenant = await api.tenant()
    url = f"https://{PUBLIC_IP}/" + "a" * (2048 - len(f"https://{PUBLIC_IP}/"))
    assert (await subscribe(api, tenant, url))["url"] == url


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080/hooks",  # a name, resolved by the system: 127.0.0.1
        "http://127.0.0.1/hooks",
        "http://10.1.2.3/hooks",
        "http://192.168.0.10/hooks",
        "http://172.16.5.4/hooks",
        "http://169.254.169.254/latest/meta-data",  # link-local: cloud metadata
        "http://0.0.0.0/hooks",
        "http://[::1]/hooks",
        "http://[fe80::1]/hooks",
        "http://[::ffff:127.0.0.1]/hooks",  # IPv4-mapped loopback
        "http://[fd00::1]/hooks",
        "http://100.64.0.1/hooks",  # shared address space (carrier NAT)
        "http://224.0.0.1/hooks",
        "http://2130706433/hooks",  # 127.0.0.1 as one number
        "http://no-such-host.invalid/hooks",  # does not resolve
    ],
)
async def test_non_public_targets_are_refused_when_saved(api, url):
    tenant = await api.tenant()
    status, problem = await api.call(tenant, "POST", "/api/webhooks", {"url": url})
    assert (status, problem["code"]) == (422, "url_not_allowed"), problem
    assert problem["errors"][0]["field"] == "url"
    assert (await api.call(tenant, "GET", "/api/webhooks"))[1]["items"] == []


async def test_a_name_resolving_to_any_private_address_is_refused_when_saved_and_changed(webhook_api):
    resolver = FakeResolver(
        {
            "hooks.example.com": [PUBLIC_IP],
            "internal.example.com": ["10.0.0.7"],
            "mixed.example.com": [PUBLIC_IP, "127.0.0.1"],
        }
    )
    api = await webhook_api(resolver=resolver, webhook_allow_private_urls=False)
    tenant = await api.tenant()
    for host in ("internal.example.com", "mixed.example.com"):
        status, problem = await api.call(tenant, "POST", "/api/webhooks", {"url": f"https://{host}/h"})
        assert (status, problem["code"]) == (422, "url_not_allowed"), problem
        assert "private" in problem["detail"] or "loopback" in problem["detail"]
    created = await subscribe(api, tenant, "https://hooks.example.com/h")
    path = f"/api/webhooks/{created['id']}"
    status, problem = await api.call(tenant, "PATCH", path, {"url": "https://internal.example.com/h"})
    assert (status, problem["code"]) == (422, "url_not_allowed")
    assert (await api.call(tenant, "GET", path))[1]["url"] == "https://hooks.example.com/h"
    assert resolver.asked.count("hooks.example.com") == 1


async def test_private_targets_are_allowed_when_the_operator_says_so(webhook_api):
    api = await webhook_api(webhook_allow_private_urls=True)
    tenant = await api.tenant()
    for url in ("http://localhost:8099/hooks", "http://10.1.2.3/hooks", "http://no-such-host.invalid/"):
        assert (await subscribe(api, tenant, url))["url"] == url


async def _dispatch(api) -> None:
    await api.client.app[WEBHOOK_DISPATCHER].run_once()


async def test_a_webhook_gets_its_resellers_later_events_of_the_types_it_chose(api, conn):
    tenant, other = await api.tenant(), await api.tenant(name="Other Cloud")
    product = await api.product()
    before = await api.draft(tenant)  # before any webhook: never delivered
    every = await subscribe(api, tenant, HOOK)
    items_only = await subscribe(api, tenant, HOOK, eventTypes=["order.item_added"])
    order = await api.draft(tenant)
    await api.item(tenant, order["id"], product)
    await api.draft(other)  # another reseller's event
    await _dispatch(api)

    rows = await conn.fetch(
        "SELECT d.webhook_id, e.order_id, e.type FROM webhook_deliveries d"
        " JOIN order_events e ON e.id = d.event_id ORDER BY d.id"
    )
    assert [(r["webhook_id"], r["order_id"], r["type"]) for r in rows] == [
        (every["id"], order["id"], "order.created"),
        (every["id"], order["id"], "order.item_added"),
        (items_only["id"], order["id"], "order.item_added"),
    ]
    assert before["id"] != order["id"]
    # Changing the types applies to events from then on.
    await api.call(tenant, "PATCH", f"/api/webhooks/{items_only['id']}", {"eventTypes": ["order.created"]})
    await api.draft(tenant)
    await _dispatch(api)
    assert [d["eventType"] for d in await deliveries(api, tenant, items_only["id"])] == [
        "order.created",
        "order.item_added",
    ]


async def test_webhooks_and_deliveries_page_by_cursor(api):
    tenant = await api.tenant()
    hooks = [await subscribe(api, tenant, HOOK) for _ in range(3)]
    status, first = await api.call(tenant, "GET", "/api/webhooks?pageSize=2")
    status, rest = await api.call(tenant, "GET", f"/api/webhooks?pageSize=2&cursor={first['nextCursor']}")
    assert [h["id"] for h in first["items"] + rest["items"]] == [h["id"] for h in hooks]  # oldest first
    assert rest["nextCursor"] is None

    for _ in range(3):
        await api.draft(tenant)
    await _dispatch(api)
    path = f"/api/webhooks/{hooks[0]['id']}/deliveries"
    status, page = await api.call(tenant, "GET", f"{path}?pageSize=2")
    status, last = await api.call(tenant, "GET", f"{path}?pageSize=2&cursor={page['nextCursor']}")
    listed = page["items"] + last["items"]
    assert [d["id"] for d in listed] == sorted((d["id"] for d in listed), reverse=True)  # newest first
    assert len(listed) == 3 and last["nextCursor"] is None
    assert {(d["status"], d["attempts"], d["lastAttemptAt"]) for d in listed} == {("pending", 0, None)}
    status, problem = await api.call(tenant, "GET", f"{path}?cursor=bm9wZQ")
    assert (status, problem["errors"][0]["code"]) == (422, "invalid_cursor")
