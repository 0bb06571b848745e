"""Free Edition resellers may only read; changes of edition reach live tokens within 5 s."""

import asyncio
import time

import pytest

from tests.subscription_support import bought


async def _free_tenant_with_orders(api):
    """A reseller that ordered while Standard, then moved to Free."""
    tenant = await api.tenant()
    product = await api.product(characteristics=[{"name": "seats", "label": "Seats", "type": "number"}])
    tenant.subscription = await bought(api, tenant, await api.product())
    await api.admin(
        "POST",
        f"/admin/resellers/{tenant.reseller_id}/customfields",
        {"name": "ref", "label": "Ref", "type": "text"},
        expect=201,
    )
    draft = await api.draft(tenant)
    item = await api.item(tenant, draft["id"], product)
    confirmed = await api.draft(tenant)
    await api.item(tenant, confirmed["id"], product)
    assert (await api.call(tenant, "POST", f"/api/orders/{confirmed['id']}/checkout"))[0] == 202
    await api.call(tenant, "PUT", "/api/settings", {"approvalRequired": True})
    waiting = await api.draft(tenant)
    await api.item(tenant, waiting["id"], product)
    assert (await api.call(tenant, "POST", f"/api/orders/{waiting['id']}/checkout"))[0] == 202
    tenant.waiting = waiting
    await api.admin("PATCH", f"/admin/resellers/{tenant.reseller_id}", {"edition": "Free"}, expect=200)
    # A new credential has no cached state, so it sees Free at once.
    creds = await api.admin("POST", f"/admin/resellers/{tenant.reseller_id}/credentials", expect=201)
    tenant.token = await api.token(creds["clientId"], creds["clientSecret"])
    return tenant, product, draft, item, confirmed


async def test_free_edition_writes_are_403_and_change_nothing(api, conn):
    tenant, product, draft, item, confirmed = await _free_tenant_with_orders(api)
    o, i = draft["id"], item["id"]
    writes = [
        ("POST", "/api/orders", {"accountId": tenant.account_id}),
        (
            "POST",
            f"/api/orders/{o}/items",
            {"productId": product["id"], "quantity": 1, "billingCycle": "Monthly"},
        ),
        ("DELETE", f"/api/orders/{o}/items/{i}", None),
        ("POST", f"/api/orders/{o}/checkout", None),
        ("PUT", f"/api/orders/{o}/customfields", [{"name": "ref", "value": "x"}]),
        ("PUT", f"/api/orders/{o}/items/{i}/characteristics", [{"name": "seats", "value": 3}]),
        # Edition comes before body validation and state.
        ("POST", f"/api/orders/{o}/items", {"bogus": True}),
        ("POST", f"/api/orders/{confirmed['id']}/checkout", None),
        ("POST", f"/api/orders/{tenant.waiting['id']}/approve", None),
        ("POST", f"/api/orders/{tenant.waiting['id']}/cancel", {"reason": "no"}),
        ("POST", f"/api/orders/{tenant.waiting['id']}/cancel", {"reason": 5}),
        ("PUT", "/api/settings", {"approvalRequired": False}),
        # Change items are writes like any other item.
        ("POST", f"/api/orders/{o}/items", {"subscriptionId": tenant.subscription["id"], "action": "cancel"}),
        (
            "POST",
            f"/api/orders/{o}/items",
            {"subscriptionId": tenant.subscription["id"], "action": "changeQuantity", "quantity": 9},
        ),
        ("PUT", f"/api/accounts/{tenant.customer_id}/settings", {"approvalRequired": True}),
        ("PUT", f"/api/accounts/{tenant.customer_id}/settings", {"approvalRequired": "bad body"}),
    ]
    before = (
        await conn.fetchval("SELECT count(*) FROM orders"),
        await conn.fetchval("SELECT count(*) FROM order_items"),
        await conn.fetchval("SELECT count(*) FROM order_events"),
        await conn.fetchval("SELECT string_agg(status, ',' ORDER BY id) FROM orders"),
        await conn.fetchval("SELECT approval_required FROM resellers WHERE id = $1", tenant.reseller_id),
        await conn.fetchval("SELECT count(*) FROM accounts WHERE approval_required IS NOT NULL"),
        await conn.fetchval("SELECT string_agg(status || quantity, ',' ORDER BY id) FROM subscriptions"),
    )
    for method, path, body in writes:
        status, problem = await api.call(tenant, method, path, body)
        assert (status, problem["code"]) == (403, "edition_not_permitted"), (method, path, problem)
    after = (
        await conn.fetchval("SELECT count(*) FROM orders"),
        await conn.fetchval("SELECT count(*) FROM order_items"),
        await conn.fetchval("SELECT count(*) FROM order_events"),
        await conn.fetchval("SELECT string_agg(status, ',' ORDER BY id) FROM orders"),
        await conn.fetchval("SELECT approval_required FROM resellers WHERE id = $1", tenant.reseller_id),
        await conn.fetchval("SELECT count(*) FROM accounts WHERE approval_required IS NOT NULL"),
        await conn.fetchval("SELECT string_agg(status || quantity, ',' ORDER BY id) FROM subscriptions"),
    )
    assert before == after


async def test_free_edition_reads_work(api):
    tenant, product, draft, item, confirmed = await _free_tenant_with_orders(api)
    o, i = draft["id"], item["id"]
    for path in [
        "/api/accounts",
        "/api/products",
        "/api/orders",
        "/api/orders?stage=All",
        f"/api/orders/{o}",
        f"/api/orders/{o}/items",
        f"/api/orders/{o}/items/{i}",
        f"/api/orders/{o}/customfields",
        f"/api/orders/{o}/items/{i}/characteristics",
        f"/api/orders/{confirmed['id']}/execute/status",
        f"/api/accounts/{tenant.customer_id}",
        "/api/subscriptions",
        f"/api/subscriptions?accountId={tenant.customer_id}",
        f"/api/subscriptions/{tenant.subscription['id']}",
    ]:
        status, _ = await api.call(tenant, "GET", path)
        assert status == 200, path


async def test_free_edition_foreign_ids_are_still_404_not_403(api):
    tenant, *_ = await _free_tenant_with_orders(api)
    status, problem = await api.call(tenant, "POST", "/api/orders/987654321/checkout")
    assert (status, problem["code"]) == (404, "not_found")


@pytest.mark.parametrize(("change", "expected"), [("edition", 403), ("revoke", 401)])
async def test_changes_reach_tokens_already_issued_within_5_seconds(api, change, expected):
    tenant = await api.tenant()
    assert (await api.call(tenant, "POST", "/api/orders", {"accountId": tenant.account_id}))[0] == 201
    if change == "edition":
        await api.admin("PATCH", f"/admin/resellers/{tenant.reseller_id}", {"edition": "Free"}, expect=200)
    else:
        await api.admin(
            "DELETE", f"/admin/resellers/{tenant.reseller_id}/credentials/{tenant.client_id}", expect=204
        )
    changed = time.monotonic()
    while True:
        status, _ = await api.call(tenant, "POST", "/api/orders", {"accountId": tenant.account_id})
        if status == expected:
            break
        assert status == 201
        assert time.monotonic() - changed < 5, "the change did not take effect within 5 s"
        await asyncio.sleep(0.2)
