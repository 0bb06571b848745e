"""Inputs that once reached Python or PostgreSQL unchecked and answered 500.

Found by fuzzing the service against its OpenAPI document (tests/integration/
test_fuzz.py) or by probing the classes of input it pointed at."""

from __future__ import annotations

import json

import pytest

from tests.api import PROBLEM


async def send(api, tenant, method: str, path: str, raw: str):
    response = await api.client.request(
        method, path, data=raw.encode(), headers={**tenant.headers, "Content-Type": "application/json"}
    )
    return response.status, await response.json(content_type=PROBLEM if response.status >= 400 else None)


@pytest.mark.parametrize("body", [None, 7, "text", {"name": "po_number", "value": "x"}])
async def test_a_value_list_that_is_not_a_list_is_422(api, body):
    tenant = await api.tenant()
    product = await api.product(characteristics=[{"name": "domain", "label": "Domain", "type": "text"}])
    order = await api.draft(tenant)
    item = await api.item(tenant, order["id"], product)
    for path in (
        f"/api/orders/{order['id']}/customfields",
        f"/api/orders/{order['id']}/items/{item['id']}/characteristics",
    ):
        status, problem = await send(api, tenant, "PUT", path, json.dumps(body))
        assert status == 422, problem
        assert problem["code"] == "validation_error"
        assert problem["errors"][0]["field"] == "body"


async def test_json_nested_too_deeply_for_python_is_malformed(api):
    tenant = await api.tenant()
    status, problem = await send(api, tenant, "POST", "/api/orders", "[" * 100_000 + "]" * 100_000)
    assert status == 400, problem
    assert problem["code"] == "malformed_json"


@pytest.mark.parametrize(
    "raw",
    ['{"accountId": 1, "notes": "\\ud800"}', '{"accountId": 1, "\\udfff": 1}'],
    ids=["in a value", "in a name"],
)
async def test_a_lone_surrogate_postgresql_cannot_store_is_422(api, raw):
    tenant = await api.tenant()
    status, problem = await send(api, tenant, "POST", "/api/orders", raw)
    assert status == 422, problem
    assert problem["code"] == "validation_error"


async def test_a_lone_surrogate_never_reaches_a_stored_value(api):
    tenant = await api.tenant()
    await api.admin(
        "POST",
        f"/admin/resellers/{tenant.reseller_id}/customfields",
        {"name": "po", "label": "PO", "type": "text"},
        expect=201,
    )
    order = await api.draft(tenant)
    status, problem = await send(
        api, tenant, "PUT", f"/api/orders/{order['id']}/customfields", '[{"name": "po", "value": "\\ud800"}]'
    )
    assert status == 422 and problem["code"] == "validation_error"


async def test_an_item_that_would_overflow_the_order_total_is_422_and_not_added(api):
    tenant = await api.tenant()
    product = await api.product(unitPrices={"Monthly": "999999999999.99", "Annually": "1.00"})
    order = await api.draft(tenant)
    big = {"productId": product["id"], "quantity": 100_000, "billingCycle": "Monthly"}
    for _ in range(10):  # 10 x 99999999999999000.00 still fits numeric(20, 2)
        await api.item(tenant, order["id"], product, **big)
    status, problem = await api.call(tenant, "POST", f"/api/orders/{order['id']}/items", big)
    assert status == 422, problem
    assert problem["errors"][0]["code"] == "total_too_large"
    status, after = await api.call(tenant, "GET", f"/api/orders/{order['id']}")
    assert (after["itemCount"], after["total"]) == (10, "999999999999990000.00")


@pytest.mark.parametrize("token", ["\u00e9.\u00e9", "a.\u00e9"])
async def test_a_bearer_token_with_non_ascii_characters_is_401(client, token):
    # aiohttp reads header bytes as UTF-8; send them as the bytes a client would.
    header = f"Bearer {token}".encode().decode("latin-1")
    response = await client.get("/api/accounts", headers={"Authorization": header})
    assert response.status == 401
    assert (await response.json(content_type=PROBLEM))["code"] == "unauthorized"
