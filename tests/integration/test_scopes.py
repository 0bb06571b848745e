"""Least privilege: credentials and tokens carry scopes, checked in the contract's order."""

from __future__ import annotations

import base64

SCOPES = ["orders:read", "orders:write", "orders:approve"]


async def _token_response(api, client_id, secret, scope=None):
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    form = {"grant_type": "client_credentials"}
    if scope is not None:
        form["scope"] = scope
    response = await api.client.post("/oauth/token", data=form, headers={"Authorization": f"Basic {basic}"})
    return response.status, await response.json(content_type=None)


async def test_a_credential_made_without_a_body_has_every_scope(api):
    tenant = await api.tenant()
    creds = await api.admin("POST", f"/admin/resellers/{tenant.reseller_id}/credentials", expect=201)
    assert creds["scopes"] == SCOPES
    status, token = await _token_response(api, creds["clientId"], creds["clientSecret"])
    assert status == 200
    assert token["scope"] == "orders:read orders:write orders:approve"


async def test_credential_scopes_are_validated(api):
    tenant = await api.tenant()
    path = f"/admin/resellers/{tenant.reseller_id}/credentials"
    for body in ({"scopes": ["orders:delete"]}, {"scopes": []}, {"scopes": "orders:read"}, {"extra": 1}):
        problem = await api.admin("POST", path, body, expect=422)
        assert problem["code"] == "validation_error", body
    creds = await api.admin("POST", path, {"scopes": ["orders:approve", "orders:read"]}, expect=201)
    assert creds["scopes"] == ["orders:read", "orders:approve"]


async def test_a_token_may_ask_for_a_subset_and_not_for_more(api):
    tenant = await api.tenant()
    creds = await api.admin(
        "POST", f"/admin/resellers/{tenant.reseller_id}/credentials", {"scopes": ["orders:read", "orders:write"]}, expect=201
    )
    status, token = await _token_response(api, creds["clientId"], creds["clientSecret"], "orders:read")
    assert (status, token["scope"]) == (200, "orders:read")
    status, error = await _token_response(api, creds["clientId"], creds["clientSecret"], "orders:read orders:approve")
    assert status == 400
    assert error["error"] == "invalid_scope"
    status, error = await _token_response(api, creds["clientId"], creds["clientSecret"], "everything")
    assert (status, error["error"]) == (400, "invalid_scope")
    # The token endpoint's other errors carry RFC 6749's `error` too.
    status, error = await _token_response(api, creds["clientId"], "wrong")
    assert (status, error["error"]) == (401, "invalid_client")


async def test_a_read_only_dashboard_reads_everything_and_changes_nothing(api, conn):
    tenant = await api.tenant()
    product = await api.product()
    order = await api.draft(tenant)
    item = await api.item(tenant, order["id"], product)
    dashboard = await api.colleague(tenant, ["orders:read"])
    o, i = order["id"], item["id"]
    for path in (
        "/api/accounts",
        "/api/products",
        "/api/orders?stage=All",
        f"/api/orders/{o}",
        f"/api/orders/{o}/items",
        f"/api/orders/{o}/items/{i}",
        f"/api/orders/{o}/customfields",
        f"/api/orders/{o}/items/{i}/characteristics",
        f"/api/orders/{o}/events",
        "/api/events",
        "/api/settings",
    ):
        status, _ = await api.call(dashboard, "GET", path)
        assert status == 200, path
    writes = [
        ("POST", "/api/orders", {"accountId": tenant.account_id}, "orders:write"),
        ("POST", f"/api/orders/{o}/items", {"productId": product["id"], "quantity": 1, "billingCycle": "Monthly"}, "orders:write"),
        ("DELETE", f"/api/orders/{o}/items/{i}", None, "orders:write"),
        ("PUT", f"/api/orders/{o}/customfields", [], "orders:write"),
        ("PUT", f"/api/orders/{o}/items/{i}/characteristics", [], "orders:write"),
        ("POST", f"/api/orders/{o}/checkout", None, "orders:write"),
        ("PUT", "/api/settings", {"approvalRequired": True}, "orders:approve"),
        ("POST", f"/api/orders/{o}/approve", None, "orders:approve"),
        ("POST", f"/api/orders/{o}/cancel", None, "orders:approve"),
        # Scope is checked before the body: a broken body is still 403.
        ("POST", f"/api/orders/{o}/items", {"bogus": 1}, "orders:write"),
    ]
    events_before = await conn.fetchval("SELECT count(*) FROM order_events")
    for method, path, body, needed in writes:
        response = await api.client.request(method, path, json=body, headers=dashboard.headers)
        problem = await response.json(content_type=None)
        assert (response.status, problem["code"]) == (403, "insufficient_scope"), (method, path, problem)
        assert response.headers["WWW-Authenticate"] == f'Bearer error="insufficient_scope", scope="{needed}"'
    assert await conn.fetchval("SELECT count(*) FROM order_events") == events_before
    assert await conn.fetchval("SELECT count(*) FROM order_items") == 1


async def test_a_token_narrowed_at_issue_time_is_held_to_its_scope(api):
    tenant = await api.tenant()
    narrowed = dict(tenant.headers)
    narrowed["Authorization"] = "Bearer " + await api.token(tenant.client_id, tenant.client_secret, "orders:read")
    response = await api.client.post("/api/orders", json={"accountId": tenant.account_id}, headers=narrowed)
    assert response.status == 403
    assert (await response.json())["code"] == "insufficient_scope"
    response = await api.client.get("/api/orders", headers=narrowed)
    assert response.status == 200


async def test_scope_is_checked_after_the_tenant_and_with_the_edition(api):
    owner = await api.tenant(name="Owner")
    product = await api.product()
    order = await api.draft(owner)
    stranger = await api.tenant(name="Stranger")
    reader = await api.colleague(stranger, ["orders:read"])
    approver = await api.colleague(stranger, ["orders:approve"])
    # Another reseller's order: 404 whatever the token may do.
    for who, method, path in (
        (reader, "POST", f"/api/orders/{order['id']}/items"),
        (reader, "POST", f"/api/orders/{order['id']}/checkout"),
        (approver, "GET", f"/api/orders/{order['id']}"),
        (reader, "POST", f"/api/orders/{order['id']}/approve"),
    ):
        status, problem = await api.call(who, method, path, {"productId": product["id"]})
        assert (status, problem["code"]) == (404, "not_found"), (method, path)
    # Its own order: the missing scope.
    own = await api.draft(stranger)
    status, problem = await api.call(approver, "GET", f"/api/orders/{own['id']}")
    assert (status, problem["code"]) == (403, "insufficient_scope")
    # A Free reseller lacking the scope hears about its edition.
    await api.admin("PATCH", f"/admin/resellers/{stranger.reseller_id}", {"edition": "Free"}, expect=200)
    free_reader = await api.colleague(stranger, ["orders:read"])
    status, problem = await api.call(free_reader, "POST", "/api/orders", {"accountId": stranger.account_id})
    assert (status, problem["code"]) == (403, "edition_not_permitted")
