"""The seed's flow, end to end through real HTTP: draft, items, values, checkout, views."""

import datetime

from service.schemas import admin, orders
from service.schemas.common import Problem

PROBLEM_SCHEMA = Problem()


def conforms(schema, body, many=False):
    """A response matches the schema the OpenAPI document describes."""
    assert schema.validate(body, many=many) == {}
    return body


def today():
    return datetime.datetime.now(datetime.UTC).date()


async def test_draft_items_values_checkout_and_views(api, client):
    tenant = await api.tenant()
    product = await api.product(
        characteristics=[
            {"name": "domain", "label": "Domain", "type": "text", "required": True},
            {"name": "seats", "label": "Seats", "type": "number"},
        ]
    )
    await api.admin(
        "POST",
        f"/admin/resellers/{tenant.reseller_id}/customfields",
        {"name": "po_number", "label": "PO number", "type": "text", "required": True},
        expect=201,
    )

    status, order = await api.call(
        tenant, "POST", "/api/orders", {"accountId": tenant.customer_id, "notes": "first"}
    )
    assert status == 201
    assert order["status"] == "Draft"
    assert order["orderDate"] == today().isoformat()
    assert order["expirationDate"] == (today() + datetime.timedelta(days=7)).isoformat()
    assert order["accountId"] == tenant.customer_id
    assert order["itemCount"] == 0 and order["total"] == "0.00"
    conforms(orders.Order(), order)
    order_id = order["id"]

    item = await api.item(
        tenant, order_id, product, quantity=3, characteristics=[{"name": "seats", "value": 5}]
    )
    assert item["unitPrice"] == "12.50" and item["totalPrice"] == "37.50"
    assert item["status"] is None and item["subscriptionId"] is None
    conforms(orders.Item(), item)
    second = await api.item(tenant, order_id, product, quantity=1, billingCycle="Annually")
    status, order = await api.call(tenant, "GET", f"/api/orders/{order_id}")
    assert (order["itemCount"], order["total"], order["currency"]) == (2, "157.50", "EUR")

    status, _ = await api.call(tenant, "DELETE", f"/api/orders/{order_id}/items/{second['id']}")
    assert status == 204
    status, order = await api.call(tenant, "GET", f"/api/orders/{order_id}")
    assert (order["itemCount"], order["total"]) == (1, "37.50")

    # Checkout refuses while required values are missing, naming each.
    status, problem = await api.call(tenant, "POST", f"/api/orders/{order_id}/checkout")
    assert status == 422
    assert {e["field"] for e in problem["errors"]} == {
        "customFields.po_number",
        f"items[{item['id']}].characteristics.domain",
    }

    status, fields = await api.call(
        tenant, "PUT", f"/api/orders/{order_id}/customfields", [{"name": "po_number", "value": "PO-7"}]
    )
    assert status == 200
    conforms(orders.Value(), fields, many=True)
    assert fields == [
        {
            "name": "po_number",
            "label": "PO number",
            "type": "text",
            "required": True,
            "options": [],
            "value": "PO-7",
        }
    ]
    status, chars = await api.call(
        tenant,
        "PUT",
        f"/api/orders/{order_id}/items/{item['id']}/characteristics",
        [{"name": "domain", "value": "example.com"}],
    )
    assert status == 200
    assert {c["name"]: c["value"] for c in chars} == {"domain": "example.com", "seats": 5}

    conforms(PROBLEM_SCHEMA, problem)
    response = await client.post(f"/api/orders/{order_id}/checkout", headers=tenant.headers)
    assert response.status == 202
    assert response.headers["Location"] == f"/api/orders/{order_id}/execute/status"
    order = await response.json()
    assert order["status"] == "Pending"
    assert order["expirationDate"] is None
    assert order["checkedOutAt"]

    status, progress = await api.call(tenant, "GET", f"/api/orders/{order_id}/execute/status")
    assert status == 200
    assert progress["progress"] == {"total": 1, "completed": 0, "failed": 0, "inProgress": 0, "pending": 1}
    assert progress["items"][0]["itemId"] == item["id"]
    conforms(orders.ExecutionStatus(), progress)

    status, listed = await api.call(tenant, "GET", "/api/orders")
    assert [o["id"] for o in listed["items"]] == [order_id]
    status, drafts = await api.call(tenant, "GET", "/api/orders?stage=draft")
    assert drafts["items"] == []
    status, items = await api.call(tenant, "GET", f"/api/orders/{order_id}/items")
    conforms(orders.page_of(orders.Item)(), items)
    assert [i["status"] for i in items["items"]] == ["Pending"]

    # A confirmed order no longer changes.
    for method, path, body in [
        (
            "POST",
            f"/api/orders/{order_id}/items",
            {"productId": product["id"], "quantity": 1, "billingCycle": "Monthly"},
        ),
        ("DELETE", f"/api/orders/{order_id}/items/{item['id']}", None),
        ("POST", f"/api/orders/{order_id}/checkout", None),
        ("PUT", f"/api/orders/{order_id}/customfields", [{"name": "po_number", "value": "PO-8"}]),
        (
            "PUT",
            f"/api/orders/{order_id}/items/{item['id']}/characteristics",
            [{"name": "domain", "value": "x.org"}],
        ),
    ]:
        status, problem = await api.call(tenant, method, path, body)
        assert (status, problem["code"]) == (409, "order_not_draft"), (method, path)


async def test_execution_status_of_a_draft_is_409(api):
    tenant = await api.tenant()
    order = await api.draft(tenant)
    status, problem = await api.call(tenant, "GET", f"/api/orders/{order['id']}/execute/status")
    assert (status, problem["code"]) == (409, "order_not_confirmed")


async def test_checkout_of_an_empty_draft_is_422(api):
    tenant = await api.tenant()
    order = await api.draft(tenant)
    status, problem = await api.call(tenant, "POST", f"/api/orders/{order['id']}/checkout")
    assert (status, problem["code"]) == (422, "order_empty")


async def test_accounts_and_products_are_listed(api):
    tenant = await api.tenant(name="Blue")
    product = await api.product()
    status, accounts = await api.call(tenant, "GET", "/api/accounts")
    assert status == 200
    assert accounts["items"] == [
        {"id": tenant.account_id, "name": "Blue", "type": "Reseller", "approvalRequired": None},
        {"id": tenant.customer_id, "name": "Blue customer", "type": "Customer", "approvalRequired": None},
    ]
    status, products = await api.call(tenant, "GET", "/api/products")
    assert products["items"] == [product]
    conforms(admin.Product(), product)
    conforms(orders.page_of(admin.Account)(), accounts)
    assert "fulfillment" not in product
