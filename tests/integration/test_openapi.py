"""The OpenAPI document: complete, valid, served, and true of real responses."""

from __future__ import annotations

import dataclasses
import re

import pytest
from openapi_spec_validator import validate

from service.app import create_app
from service.state import WEBHOOK_DISPATCHER
from tests.api import ADMIN_TOKEN, Api
from tests.conformance import ConformingClient, resolve, schema_validator
from tests.subscription_support import bought, executed

METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture
async def document(client) -> dict:
    response = await client.get("/api/openapi.json")  # no Authorization: it is public
    assert response.status == 200
    assert response.content_type == "application/json"
    return await response.json()


def routed_operations(app) -> set[tuple[str, str]]:
    """Every (method, path) the router answers, in OpenAPI's spelling."""
    found = set()
    for route in app.router.routes():
        path = route.resource.canonical
        if route.method == "HEAD" or path.startswith(("/api/docs", "/api/openapi.json", "/console", "/metrics")):
            continue
        camel = re.sub(r"_([a-z])", lambda m: m[1].upper(), path)
        found.add((route.method.lower(), camel))
    return found


async def test_every_route_is_documented_and_every_operation_routed(client, document):
    documented = {
        (method, path) for path, item in document["paths"].items() for method in item if method in METHODS
    }
    assert documented == routed_operations(client.app)
    # The contract's surface, spelled as it spells it: v3's 26 operations, v3.1's (40 in all),
    # and v3.2's: the JWKS and signing keys (4), subscriptions and account settings (4).
    assert len(documented) == 48
    for path, item in document["paths"].items():
        for method, operation in item.items():
            names = {resolve(document, p)["name"] for p in operation["parameters"]}
            assert set(re.findall(r"\{(\w+)\}", path)) <= names, (method, path)
            assert {"X-Api-Version", "X-Request-Id"} <= names, (method, path)
            assert operation["responses"], (method, path)


def test_an_undocumented_route_stops_the_app(settings):
    from aiohttp import web

    from service.http import openapi

    app = web.Application()

    async def secret(request):
        return web.Response()

    app.router.add_get("/api/secret", secret)
    with pytest.raises(LookupError, match="GET /api/secret"):
        openapi.build_document(app)


async def test_document_is_valid_openapi_with_codes_and_security(document):
    validate(document)
    assert document["openapi"].startswith("3.1")
    schemes = document["components"]["securitySchemes"]
    assert schemes["resellerToken"]["type"] == "oauth2"
    flow = schemes["resellerToken"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/oauth/token"
    assert set(flow["scopes"]) == {"orders:read", "orders:write", "orders:approve"}
    assert schemes["clientCredentials"]["scheme"] == "basic"
    paths = document["paths"]
    assert paths["/api/orders"]["get"]["security"] == [{"resellerToken": ["orders:read"]}]
    assert paths["/api/orders/{orderId}/approve"]["post"]["security"] == [{"resellerToken": ["orders:approve"]}]
    assert paths["/admin/products"]["post"]["security"] == [{"operatorToken": []}]
    assert paths["/oauth/token"]["post"]["security"] == [{"clientCredentials": []}]
    assert "application/x-www-form-urlencoded" in paths["/oauth/token"]["post"]["requestBody"]["content"]
    assert paths["/health/ready"]["get"]["security"] == []

    def codes(method, path, status):
        response = resolve(document, paths[path][method]["responses"][status])
        assert response["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
        return set(response["x-problem-codes"])

    def field_codes(method, path):
        return set(resolve(document, paths[path][method]["responses"]["422"])["x-field-codes"])

    # Every change may wait too long for the order another change holds (order_busy).
    keys_409, keys_422 = {"idempotency_key_in_progress", "order_busy"}, {"idempotency_key_reused"}
    assert codes("post", "/api/orders/{orderId}/checkout", "409") == {
        "order_not_draft",
        "subscription_change_pending",
    } | keys_409
    assert codes("post", "/api/orders/{orderId}/checkout", "422") == {
        "order_empty",
        "required_values_missing",
    } | keys_422
    assert codes("get", "/api/orders/{orderId}/execute/status", "409") == {"order_not_confirmed"}
    assert codes("post", "/admin/products", "409") == {"already_exists"}
    assert codes("post", "/api/orders", "400") == {
        "bad_request",
        "invalid_idempotency_key",
        "malformed_json",
        "unsupported_api_version",
    }
    assert codes("post", "/api/orders", "403") == {"edition_not_permitted", "insufficient_scope"}
    assert codes("post", "/api/orders/{orderId}/approve", "403") == {
        "approver_is_submitter",
        "edition_not_permitted",
        "insufficient_scope",
    }
    assert codes("post", "/api/orders/{orderId}/approve", "409") == {"order_not_pending_approval"} | keys_409
    assert codes("post", "/api/orders/{orderId}/checkout", "412") == {"precondition_failed"}
    assert {"unknown_account", "date_in_past", "unknown_field", "required"} <= field_codes("post", "/api/orders")
    assert {"invalid_cursor", "invalid_stage"} <= field_codes("get", "/api/orders")
    assert {"currency_mismatch", "invalid_value"} <= field_codes("post", "/api/orders/{orderId}/items")
    assert {
        "unknown_subscription",
        "subscription_of_another_account",
        "subscription_not_active",
        "duplicate_subscription",
        "product_mismatch",
        "billing_cycle_mismatch",
        "quantity_unchanged",
    } <= field_codes("post", "/api/orders/{orderId}/items")
    assert "subscription_not_active" in field_codes("post", "/api/orders/{orderId}/checkout")
    assert paths["/api/accounts/{accountId}/settings"]["put"]["security"] == [{"resellerToken": ["orders:approve"]}]
    assert codes("put", "/api/accounts/{accountId}/settings", "403") == {"edition_not_permitted", "insufficient_scope"}
    assert paths["/api/subscriptions"]["get"]["security"] == [{"resellerToken": ["orders:read"]}]
    listed = {resolve(document, p)["name"] for p in paths["/api/subscriptions"]["get"]["parameters"]}
    assert {"accountId", "productId", "status", "pageSize", "cursor"} <= listed
    # Statuses and actions are open: any string parses, the known ones are named.
    schemas = document["components"]["schemas"]
    for schema, field, enum in (("Subscription", "status", "SubscriptionStatus"), ("Item", "action", "ItemAction")):
        assert schemas[schema]["properties"][field]["anyOf"][:2] == [
            {"$ref": f"#/components/schemas/{enum}"},
            {"type": "string"},
        ]
    assert schemas["SubscriptionStatus"]["enum"] == ["Active", "Cancelled"]
    assert schemas["ItemAction"]["enum"] == ["purchase", "changeQuantity", "cancel"]
    assert codes("get", "/api/orders", "401") == {"unauthorized"}
    assert {"413", "415"} <= set(paths["/api/orders/{orderId}/items"]["post"]["responses"])
    assert "503" in paths["/health/ready"]["get"]["responses"]
    assert {"database_unavailable", "database_busy"} <= codes("get", "/api/orders/{orderId}", "503")
    assert "order_busy" not in codes("get", "/api/orders/{orderId}/execute/status", "409")
    assert {"webhook_limit_reached", "order_busy"} <= codes("post", "/api/webhooks", "409")
    params = {
        resolve(document, p)["name"]: resolve(document, p) for p in paths["/api/orders"]["get"]["parameters"]
    }
    assert {"stage", "accountId", "status", "fromDate", "toDate", "pageSize", "cursor"} <= set(params)
    assert params["pageSize"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}
    assert "case-insensitive" in params["stage"]["description"]
    order_id = resolve(document, paths["/api/orders/{orderId}"]["get"]["parameters"][0])
    assert order_id["schema"]["format"] == "int64" and order_id["schema"]["minimum"] == 1


async def test_every_example_matches_its_schema(document):
    checked = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            bodies = [operation.get("requestBody", {})] + [
                resolve(document, r) for r in operation["responses"].values()
            ]
            for body in bodies:
                for media in body.get("content", {}).values():
                    # One example, or (a body of several kinds) one of each kind.
                    examples = [e["value"] for e in media["examples"].values()] if "examples" in media else []
                    assert examples or "example" in media, (method, path)
                    for example in examples or [media["example"]]:
                        errors = list(schema_validator(document, media["schema"]).iter_errors(example))
                        assert not errors, (method, path, [e.message for e in errors])
                        checked += 1
    assert checked > 100


async def test_docs_ui_is_served_offline_and_loads_the_document(client):
    response = await client.get("/api/docs")
    assert response.status == 200
    html = await response.text()
    assert '"/api/openapi.json"' in html
    # Every script and stylesheet is served by the service itself.
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(asset.startswith("/api/docs/static/") for asset in assets)
    for asset in assets:
        assert (await client.get(asset)).status == 200, asset


async def test_real_responses_of_every_operation_match_the_document(client, document):
    checked = ConformingClient(client, document)
    api = Api(checked)
    await checked.get("/health/live")
    await checked.get("/health/ready")
    tenant = await api.tenant()
    await api.admin("GET", f"/admin/resellers/{tenant.reseller_id}", expect=200)
    await api.admin("PATCH", f"/admin/resellers/{tenant.reseller_id}", {"edition": "Standard"}, expect=200)
    spare = await api.admin("POST", f"/admin/resellers/{tenant.reseller_id}/credentials", expect=201)
    await api.admin(
        "DELETE", f"/admin/resellers/{tenant.reseller_id}/credentials/{spare['clientId']}", expect=204
    )
    assert (await checked.get("/.well-known/jwks.json")).status == 200
    first = (await api.admin("GET", "/admin/signing-keys", expect=200))[0]
    await api.admin("DELETE", f"/admin/signing-keys/{first['kid']}", expect=409)
    await api.admin("POST", "/admin/signing-keys", expect=201)
    await api.admin("DELETE", f"/admin/signing-keys/{first['kid']}", expect=204)
    await api.admin("DELETE", f"/admin/signing-keys/{first['kid']}", expect=404)
    tenant.token = await api.token(tenant.client_id, tenant.client_secret)  # the old key's is refused now
    await api.admin(
        "POST",
        f"/admin/resellers/{tenant.reseller_id}/customfields",
        {
            "name": "po_number",
            "label": "PO number",
            "type": "select",
            "required": True,
            "options": ["A", "B"],
        },
        expect=201,
    )
    product = await api.product(
        characteristics=[{"name": "domain", "label": "Domain", "type": "text", "required": True}]
    )
    await api.call(tenant, "GET", "/api/accounts?pageSize=1")
    await api.call(tenant, "GET", "/api/products")
    for method, path, body, status in [
        ("GET", f"/api/accounts/{tenant.customer_id}", None, 200),
        ("PUT", f"/api/accounts/{tenant.customer_id}/settings", {"approvalRequired": None}, 200),
        ("PUT", f"/api/accounts/{tenant.customer_id}/settings", {"approvalRequired": 3}, 422),
        ("GET", "/api/accounts/987654321", None, 404),
    ]:
        assert (await api.call(tenant, method, path, body))[0] == status, (method, path)
    await _subscriptions_conform(api)

    order = await api.draft(tenant, tenant.customer_id)
    base = f"/api/orders/{order['id']}"
    item = await api.item(
        tenant, order["id"], product, characteristics=[{"name": "domain", "value": "a.example"}]
    )
    spare_item = await api.item(tenant, order["id"], product)
    for method, path, body, status in [
        ("GET", f"{base}/items", None, 200),
        ("GET", f"{base}/items/{item['id']}", None, 200),
        ("DELETE", f"{base}/items/{spare_item['id']}", None, 204),
        ("GET", f"{base}/items/{item['id']}/characteristics", None, 200),
        (
            "PUT",
            f"{base}/items/{item['id']}/characteristics",
            [{"name": "domain", "value": "b.example"}],
            200,
        ),
        ("GET", f"{base}/customfields", None, 200),
        ("POST", f"{base}/checkout", None, 422),
        ("PUT", f"{base}/customfields", [{"name": "po_number", "value": "A"}], 200),
        ("GET", f"{base}/execute/status", None, 409),
        ("POST", f"{base}/checkout", None, 202),
        ("POST", f"{base}/checkout", None, 409),
        ("GET", f"{base}/execute/status", None, 200),
        ("GET", base, None, 200),
        ("GET", "/api/orders?stage=all&pageSize=1", None, 200),
        ("GET", "/api/orders?stage=sideways", None, 422),
        ("GET", "/api/orders/999999", None, 404),
        ("POST", "/api/orders", {"accountId": tenant.account_id, "extra": 1}, 422),
    ]:
        assert (await api.call(tenant, method, path, body))[0] == status, (method, path)
    for method, path, body, status in [
        ("GET", f"{base}/events", None, 200),
        ("GET", "/api/events?pageSize=2", None, 200),
        ("GET", "/api/events?type=nothing", None, 422),
        # The stream's 200 never ends; tests/integration/test_live_events.py reads it.
        ("GET", "/api/events/stream?orderId=0", None, 422),
        ("GET", "/api/settings", None, 200),
        ("PUT", "/api/settings", {"approvalRequired": True}, 200),
        ("POST", f"{base}/approve", None, 409),
    ]:
        assert (await api.call(tenant, method, path, body))[0] == status, (method, path)
    approver = await api.colleague(tenant, ["orders:read", "orders:approve"])
    for decision, body, status in (("approve", None, 202), ("cancel", {"reason": "twice"}, 200)):
        waiting = await api.draft(tenant)
        await api.item(tenant, waiting["id"], product, characteristics=[{"name": "domain", "value": "c.example"}])
        await api.call(tenant, "PUT", f"/api/orders/{waiting['id']}/customfields", [{"name": "po_number", "value": "B"}])
        assert (await api.call(tenant, "POST", f"/api/orders/{waiting['id']}/checkout"))[0] == 202
        assert (await api.call(tenant, "POST", f"/api/orders/{waiting['id']}/approve"))[0] == 403
        assert (await api.call(approver, "POST", f"/api/orders/{waiting['id']}/{decision}", body))[0] == status
    assert (await api.call(approver, "POST", "/api/orders", {"accountId": tenant.account_id}))[0] == 403
    assert (await checked.get("/api/accounts")).status == 401
    assert (
        await checked.post(
            "/api/orders", data="{", headers={**tenant.headers, "Content-Type": "application/json"}
        )
    ).status == 400
    assert (
        await checked.post("/api/orders", data="x", headers={**tenant.headers, "Content-Type": "text/plain"})
    ).status == 415
    assert (
        await checked.get("/api/accounts", headers={**tenant.headers, "X-Api-Version": "2"})
    ).status == 400

    free = await api.tenant(edition="Free", name="Free Cloud")
    assert (await api.call(free, "POST", "/api/orders", {"accountId": free.account_id}))[0] == 403

    # A public address written as an IP: no DNS, and nothing is sent (the sender never runs here).
    status, hook = await api.call(tenant, "POST", "/api/webhooks", {"url": "https://93.184.215.14/hooks"})
    assert status == 201
    hook_path = f"/api/webhooks/{hook['id']}"
    await api.call(tenant, "POST", "/api/orders", {"accountId": tenant.account_id})
    await client.app[WEBHOOK_DISPATCHER].run_once()
    status, deliveries = await api.call(tenant, "GET", f"{hook_path}/deliveries")
    assert status == 200 and deliveries["items"]
    for method, path, body, expected in [
        ("POST", "/api/webhooks", {"url": "http://127.0.0.1/hooks"}, 422),
        ("GET", "/api/webhooks", None, 200),
        ("GET", hook_path, None, 200),
        ("PATCH", hook_path, {"description": "dashboard", "eventTypes": ["order.created"]}, 200),
        ("POST", f"{hook_path}/deliveries/{deliveries['items'][0]['id']}/retry", None, 202),
        ("PATCH", hook_path, {"enabled": False}, 200),
        ("POST", f"{hook_path}/deliveries/{deliveries['items'][0]['id']}/retry", None, 409),
        ("DELETE", hook_path, None, 204),
        ("GET", hook_path, None, 404),
    ]:
        assert (await api.call(tenant, method, path, body))[0] == expected, (method, path)

    operations = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    assert {(method, path) for method, path, _ in checked.seen} == operations
    assert not {status for _, _, status in checked.seen} - {
        200,
        201,
        202,
        204,
        400,
        401,
        403,
        404,
        409,
        415,
        422,
    }


async def _subscriptions_conform(api):
    """A purchase executed to a subscription, and a change order of it, through the conforming client."""
    tenant = await api.tenant(name="Subscriber")
    mail = await api.product()
    subscription = await bought(api, tenant, mail)
    base = f"/api/subscriptions/{subscription['id']}"
    order = await api.draft(tenant, tenant.customer_id)
    items = f"/api/orders/{order['id']}/items"
    for method, path, body, status in [
        ("GET", "/api/subscriptions?pageSize=1", None, 200),
        ("GET", f"/api/subscriptions?accountId={tenant.customer_id}&productId={mail['id']}&status=Active", None, 200),
        ("GET", "/api/subscriptions?cursor=nope", None, 422),
        ("GET", base, None, 200),
        ("GET", "/api/subscriptions/987654321", None, 404),
        ("POST", items, {"subscriptionId": subscription["id"], "action": "changeQuantity", "quantity": 9}, 201),
        ("POST", items, {"subscriptionId": str(subscription["id"]), "action": "cancel"}, 422),
        ("GET", items, None, 200),
        ("POST", f"/api/orders/{order['id']}/checkout", None, 202),
    ]:
        assert (await api.call(tenant, method, path, body))[0] == status, (method, path)
    other = await api.draft(tenant, tenant.customer_id)
    await api.call(tenant, "POST", f"/api/orders/{other['id']}/items",
                   {"subscriptionId": subscription["id"], "action": "cancel"})
    status, problem = await api.call(tenant, "POST", f"/api/orders/{other['id']}/checkout")
    assert (status, problem["code"]) == (409, "subscription_change_pending")
    await executed(api, tenant, order["id"])


async def test_admin_responses_with_the_operator_api_disabled_match_the_document(
    dsn, settings, aiohttp_client
):
    app = create_app(dataclasses.replace(settings, admin_token=None), dsn=dsn)
    client = await aiohttp_client(app)
    document = await (await client.get("/api/openapi.json")).json()
    checked = ConformingClient(client, document)
    response = await checked.post(
        "/admin/resellers",
        json={"name": "x", "edition": "Free"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status == 404
