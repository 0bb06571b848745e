"""Four eyes: with approval on, a checkout waits for another credential to approve or cancel it."""

from __future__ import annotations

import asyncio

import pytest

from service.app import create_app
from service.state import DRAFT_EXPIRY, POLLER, QUERIES
from tests.api import Api


async def _waiting_order(api, clerk, product):
    order = await api.draft(clerk, clerk.customer_id)
    await api.item(clerk, order["id"], product)
    response = await api.client.post(f"/api/orders/{order['id']}/checkout", headers=clerk.headers)
    body = await response.json()
    assert (response.status, body["status"]) == (202, "Reseller Pending Approval"), body
    assert response.headers["Location"] == f"/api/orders/{order['id']}"
    return body


@pytest.fixture
async def office(api):
    """A reseller with approval on: a clerk who checks out and an approver."""
    clerk = await api.tenant()
    status, settings = await api.call(clerk, "PUT", "/api/settings", {"approvalRequired": True})
    assert (status, settings["approvalRequired"], settings["updatedBy"]) == (200, True, clerk.client_id)
    approver = await api.colleague(clerk, ["orders:read", "orders:approve"])
    return clerk, approver, await api.product()


async def test_settings_default_off_and_the_operator_can_set_them(api):
    tenant = await api.tenant()
    assert await api.call(tenant, "GET", "/api/settings") == (
        200,
        {"approvalRequired": False, "updatedAt": None, "updatedBy": None},
    )
    path = f"/admin/resellers/{tenant.reseller_id}"
    reseller = await api.admin("PATCH", path, {"approvalRequired": True}, expect=200)
    assert (reseller["approvalRequired"], reseller["edition"]) == (True, "Standard")
    status, settings = await api.call(tenant, "GET", "/api/settings")
    assert (status, settings["approvalRequired"], settings["updatedBy"]) == (200, True, "operator")
    assert settings["updatedAt"] is not None
    # Every field of the PATCH is optional; an empty one changes nothing.
    assert await api.admin("PATCH", path, {}, expect=200) == reseller
    for body in ({"approvalRequired": "yes"}, {"approvalRequired": 1}, {"approvalRequired": None}, [], {}):
        status, problem = await api.call(tenant, "PUT", "/api/settings", body)
        assert (status, problem["code"]) == (422, "validation_error"), body
    for body in ({"approvalRequired": "yes"}, {"edition": "Gold"}, {"approvalRequired": True, "x": 1}):
        problem = await api.admin("PATCH", path, body, expect=422)
        assert problem["code"] == "validation_error", body
    reseller = await api.admin("PATCH", path, {"edition": "Free"}, expect=200)
    assert (reseller["approvalRequired"], reseller["edition"]) == (True, "Free")


async def test_a_waiting_order_is_neither_draft_nor_confirmed(api, office, conn):
    clerk, approver, product = office
    order = await _waiting_order(api, clerk, product)
    o = order["id"]
    assert order["submittedBy"] == clerk.client_id
    assert (order["decidedBy"], order["cancellationReason"], order["expirationDate"]) == (None, None, None)
    status, problem = await api.call(clerk, "GET", f"/api/orders/{o}/execute/status")
    assert (status, problem["code"]) == (409, "order_not_confirmed")
    item_body = {"productId": product["id"], "quantity": 1, "billingCycle": "Monthly"}
    for method, path, body in (
        ("POST", f"/api/orders/{o}/items", item_body),
        ("PUT", f"/api/orders/{o}/customfields", []),
        ("POST", f"/api/orders/{o}/checkout", None),
    ):
        status, problem = await api.call(clerk, method, path, body)
        assert (status, problem["code"]) == (409, "order_not_draft"), path
    assert await conn.fetchval("SELECT count(*) FROM executions") == 0
    stages = {}
    for stage in ("Confirmed", "Draft", "All"):
        status, page = await api.call(clerk, "GET", f"/api/orders?stage={stage}")
        stages[stage] = [row["id"] for row in page["items"]]
    assert stages == {"Confirmed": [], "Draft": [], "All": [o]}
    status, page = await api.call(clerk, "GET", "/api/orders?stage=All&status=Reseller%20Pending%20Approval")
    assert [row["id"] for row in page["items"]] == [o]
    # It never expires: a week later it is still there, whatever the expiry job does.
    await conn.execute("UPDATE orders SET order_date = current_date - 30 WHERE id = $1", o)
    assert await api.client.server.app[DRAFT_EXPIRY].run_once() == 0
    assert (await api.call(clerk, "GET", f"/api/orders/{o}"))[0] == 200


async def test_the_submitter_cannot_approve_another_credential_can(api, office):
    clerk, approver, product = office
    order = await _waiting_order(api, clerk, product)
    path = f"/api/orders/{order['id']}"
    status, problem = await api.call(clerk, "POST", f"{path}/approve")
    assert (status, problem["code"]) == (403, "approver_is_submitter")
    response = await api.client.post(f"{path}/approve", headers=approver.headers)
    approved = await response.json()
    assert response.status == 202
    assert response.headers["Location"] == f"{path}/execute/status"
    assert (approved["status"], approved["decidedBy"], approved["submittedBy"]) == (
        "Pending",
        approver.client_id,
        clerk.client_id,
    )
    # Execution starts exactly as after a checkout without approval.
    poller = api.client.server.app[POLLER]
    for _ in range(10):
        await poller.run_once()
        status, progress = await api.call(approver, "GET", f"{path}/execute/status")
        if progress["status"] == "Completed":
            break
    assert progress["status"] == "Completed"
    status, problem = await api.call(approver, "POST", f"{path}/approve")
    assert (status, problem["code"]) == (409, "order_not_pending_approval")


async def test_cancel_with_and_without_a_reason(api, office):
    clerk, approver, product = office
    first = await _waiting_order(api, clerk, product)
    status, cancelled = await api.call(approver, "POST", f"/api/orders/{first['id']}/cancel", {"reason": "ordered twice"})
    assert status == 200
    assert (cancelled["status"], cancelled["cancellationReason"], cancelled["decidedBy"]) == (
        "Cancelled by Reseller",
        "ordered twice",
        approver.client_id,
    )
    # The submitter may cancel its own order, with no body at all.
    second = await _waiting_order(api, clerk, product)
    response = await api.client.post(f"/api/orders/{second['id']}/cancel", headers=clerk.headers)
    body = await response.json()
    assert (response.status, body["status"], body["cancellationReason"]) == (200, "Cancelled by Reseller", None)
    status, page = await api.call(clerk, "GET", "/api/orders?stage=Confirmed")
    assert page["items"] == []
    for decision in ("approve", "cancel"):
        status, problem = await api.call(approver, "POST", f"/api/orders/{first['id']}/{decision}")
        assert (status, problem["code"]) == (409, "order_not_pending_approval")
    third = await _waiting_order(api, clerk, product)
    status, problem = await api.call(approver, "POST", f"/api/orders/{third['id']}/cancel", {"reason": "x" * 501})
    assert (status, problem["code"], problem["errors"][0]["field"]) == (422, "validation_error", "reason")
    status, draft = await api.call(clerk, "POST", "/api/orders", {"accountId": clerk.account_id})
    status, problem = await api.call(approver, "POST", f"/api/orders/{draft['id']}/cancel")
    assert (status, problem["code"]) == (409, "order_not_pending_approval")


async def test_orders_waiting_keep_waiting_when_approval_is_turned_off(api, office):
    clerk, approver, product = office
    waiting = await _waiting_order(api, clerk, product)
    await api.call(clerk, "PUT", "/api/settings", {"approvalRequired": False})
    order = await api.draft(clerk)
    await api.item(clerk, order["id"], product)
    status, checked_out = await api.call(clerk, "POST", f"/api/orders/{order['id']}/checkout")
    assert (status, checked_out["status"], checked_out["submittedBy"]) == (202, "Pending", clerk.client_id)
    status, still = await api.call(clerk, "GET", f"/api/orders/{waiting['id']}")
    assert still["status"] == "Reseller Pending Approval"


async def _race(api, approvers, order_id):
    calls = []
    for n, approver in enumerate(approvers):
        decision = ("approve", None) if n % 2 == 0 else ("cancel", {"reason": f"r{n}"})
        calls.append(api.call(approver, "POST", f"/api/orders/{order_id}/{decision[0]}", decision[1]))
    return await asyncio.gather(*calls)


async def test_concurrent_approvals_and_cancellations_have_exactly_one_winner(api, office, conn):
    clerk, approver, product = office
    approvers = [approver] + [await api.colleague(clerk, ["orders:approve"]) for _ in range(3)]
    for _ in range(5):
        order = await _waiting_order(api, clerk, product)
        results = await _race(api, approvers * 4, order["id"])
        winners = [body for status, body in results if status in (200, 202)]
        assert len(winners) == 1, [s for s, _ in results]
        assert {body["code"] for status, body in results if status not in (200, 202)} == {
            "order_not_pending_approval"
        }
        decided = await conn.fetchval(
            "SELECT count(*) FROM order_events WHERE order_id = $1 AND type IN ('order.approved', 'order.cancelled')",
            order["id"],
        )
        assert decided == 1


async def test_the_race_test_catches_a_missing_guard(dsn, settings, aiohttp_client, conn):
    """Control: without the status guard in cancel's UPDATE, the row lock alone lets
    every queued cancellation re-apply after the first commits: many 'win'."""
    app = create_app(settings, dsn=dsn)
    app[QUERIES] = {
        **app[QUERIES],
        "order_cancel": app[QUERIES]["order_cancel"].replace(
            "AND status = 'Reseller Pending Approval'\n    RETURNING", "\n    RETURNING"
        ),
    }
    assert app[QUERIES]["order_cancel"] != create_app(settings, dsn=dsn)[QUERIES]["order_cancel"]
    api = Api(await aiohttp_client(app))
    clerk = await api.tenant()
    await api.call(clerk, "PUT", "/api/settings", {"approvalRequired": True})
    approver = await api.colleague(clerk, ["orders:approve"])
    order = await _waiting_order(api, clerk, await api.product())
    results = await asyncio.gather(
        *(api.call(approver, "POST", f"/api/orders/{order['id']}/cancel", {"reason": "x"}) for _ in range(8))
    )
    assert sum(1 for status, _ in results if status == 200) > 1


async def test_only_a_credential_that_may_approve_changes_the_settings_and_it_is_recorded(api, conn):
    """The issue's hole: a credential that may only write could switch four eyes off."""
    tenant = await api.tenant()
    await api.admin("PATCH", f"/admin/resellers/{tenant.reseller_id}", {"approvalRequired": True}, expect=200)
    _, set_by_operator = await api.call(tenant, "GET", "/api/settings")
    writer = await api.colleague(tenant, ["orders:read", "orders:write"])
    status, problem = await api.call(writer, "PUT", "/api/settings", {"approvalRequired": False})
    assert (status, problem["code"]) == (403, "insufficient_scope")
    assert 'scope="orders:approve"' in problem["detail"] or problem["detail"].endswith("orders:approve")
    assert await api.call(tenant, "GET", "/api/settings") == (200, set_by_operator)

    approver = await api.colleague(tenant, ["orders:read", "orders:approve"])
    before = await conn.fetchval("SELECT now()")
    # What GET answered may be sent back: updatedAt and updatedBy are ignored.
    status, changed = await api.call(
        approver, "PUT", "/api/settings", {**set_by_operator, "approvalRequired": False}
    )
    assert status == 200, changed
    assert (changed["approvalRequired"], changed["updatedBy"]) == (False, approver.client_id)
    assert changed["updatedAt"] > set_by_operator["updatedAt"]
    assert changed["updatedAt"] >= before.isoformat().replace("+00:00", "Z")[:19]
    assert await api.call(writer, "GET", "/api/settings") == (200, changed)
    # An edition change alone is not a change of the settings.
    await api.admin("PATCH", f"/admin/resellers/{tenant.reseller_id}", {"edition": "Standard"}, expect=200)
    assert await api.call(writer, "GET", "/api/settings") == (200, changed)
