"""Approval per customer account: true or false decides, null follows the reseller's setting."""

from __future__ import annotations

import pytest

from service.schemas import admin


async def _checkout_status(api, tenant, account_id, product) -> str:
    order = await api.draft(tenant, account_id)
    await api.item(tenant, order["id"], product)
    status, body = await api.call(tenant, "POST", f"/api/orders/{order['id']}/checkout")
    assert status == 202, body
    return body["status"]


@pytest.mark.parametrize(
    ("reseller", "account", "expected"),
    [
        (False, None, "Pending"),
        (False, True, "Reseller Pending Approval"),
        (False, False, "Pending"),
        (True, None, "Reseller Pending Approval"),
        (True, True, "Reseller Pending Approval"),
        (True, False, "Pending"),
    ],
)
async def test_checkout_asks_for_approval_as_the_account_says_or_null_follows_the_reseller(
    api, reseller, account, expected
):
    tenant = await api.tenant()
    approver = await api.colleague(tenant, ["orders:read", "orders:approve"])
    product = await api.product()
    await api.admin("PATCH", f"/admin/resellers/{tenant.reseller_id}", {"approvalRequired": reseller}, expect=200)
    status, changed = await api.call(
        approver, "PUT", f"/api/accounts/{tenant.customer_id}/settings", {"approvalRequired": account}
    )
    assert (status, changed["approvalRequired"]) == (200, account)
    assert await _checkout_status(api, tenant, tenant.customer_id, product) == expected
    # The reseller's own account (null) follows the reseller, whatever the customer's says.
    own = "Reseller Pending Approval" if reseller else "Pending"
    assert await _checkout_status(api, tenant, tenant.account_id, product) == own


async def test_an_account_shows_and_changes_its_setting(api):
    tenant = await api.tenant()
    approver = await api.colleague(tenant, ["orders:read", "orders:approve"])
    path = f"/api/accounts/{tenant.customer_id}"
    status, account = await api.call(tenant, "GET", path)
    assert (status, account) == (
        200,
        {"id": tenant.customer_id, "name": "Acme Cloud customer", "type": "Customer", "approvalRequired": None},
    )
    assert admin.Account().validate(account) == {}
    for value in (True, False, None):
        status, changed = await api.call(approver, "PUT", f"{path}/settings", {"approvalRequired": value})
        assert (status, changed) == (200, dict(account, approvalRequired=value))
        assert (await api.call(tenant, "GET", path))[1]["approvalRequired"] is value
    await api.call(approver, "PUT", f"{path}/settings", {"approvalRequired": True})
    status, page = await api.call(tenant, "GET", "/api/accounts")
    assert {a["id"]: a["approvalRequired"] for a in page["items"]} == {
        tenant.account_id: None,
        tenant.customer_id: True,
    }
    status, own = await api.call(tenant, "GET", f"/api/accounts/{tenant.account_id}")
    assert (status, own["type"], own["approvalRequired"]) == (200, "Reseller", None)


async def test_who_may_set_it_and_what_it_takes(api):
    tenant = await api.tenant()
    writer = await api.colleague(tenant, ["orders:read", "orders:write"])
    path = f"/api/accounts/{tenant.customer_id}/settings"
    # Switching four eyes on or off for an account is an approver's decision.
    status, problem = await api.call(writer, "PUT", path, {"approvalRequired": False})
    assert (status, problem["code"]) == (403, "insufficient_scope")
    for body in ({}, {"approvalRequired": "yes"}, {"approvalRequired": 1}, {"approvalRequired": True, "x": 1}, []):
        status, problem = await api.call(tenant, "PUT", path, body)
        assert (status, problem["code"]) == (422, "validation_error"), body
    other = await api.tenant(name="Other")
    for method, target, body in (
        ("GET", f"/api/accounts/{tenant.customer_id}", None),
        ("PUT", path, {"approvalRequired": True}),
        ("PUT", path, {"bogus": 1}),  # 404 comes before 422
    ):
        theirs = await api.call(other, method, target, body)
        missing = await api.call(other, method, target.replace(str(tenant.customer_id), "987654321"), body)
        assert theirs[0] == missing[0] == 404
        assert {k: v for k, v in theirs[1].items() if k != "requestId"} == {
            k: v for k, v in missing[1].items() if k != "requestId"
        }
    assert (await api.call(tenant, "GET", f"/api/accounts/{tenant.customer_id}"))[1]["approvalRequired"] is None


async def test_orders_waiting_keep_waiting_when_the_account_turns_approval_off(api):
    tenant = await api.tenant()
    approver = await api.colleague(tenant, ["orders:read", "orders:approve"])
    product = await api.product()
    path = f"/api/accounts/{tenant.customer_id}/settings"
    await api.call(approver, "PUT", path, {"approvalRequired": True})
    order = await api.draft(tenant, tenant.customer_id)
    await api.item(tenant, order["id"], product)
    _, waiting = await api.call(tenant, "POST", f"/api/orders/{order['id']}/checkout")
    assert waiting["status"] == "Reseller Pending Approval"
    await api.call(approver, "PUT", path, {"approvalRequired": False})
    assert (await api.call(tenant, "GET", f"/api/orders/{order['id']}"))[1]["status"] == "Reseller Pending Approval"
    assert (await api.call(approver, "POST", f"/api/orders/{order['id']}/approve"))[0] == 202
