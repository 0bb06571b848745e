"""Bad input gets a 4xx problem naming the field — never a 500, never half-written rows."""

import datetime
import io
import json

import pytest

from tests.api import PROBLEM


def fields_of(problem):
    return {e["field"] for e in problem["errors"]}


@pytest.fixture
async def tenant(api):
    return await api.tenant()


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({}, "accountId", "required"),
        ({"accountId": "1"}, "accountId", "invalid"),
        ({"accountId": 1.5}, "accountId", "invalid"),
        ({"accountId": 0}, "accountId", "invalid"),
        ({"accountId": 2**63}, "accountId", "invalid"),
        ({"accountId": 10**30}, "accountId", "invalid"),
        ({"accountId": True}, "accountId", "invalid"),
        ({"accountId": None}, "accountId", "invalid"),
        ({"accountId": 1, "colour": "red"}, "colour", "unknown_field"),
        ({"accountId": 1, "orderDate": "27/11/2026"}, "orderDate", "invalid"),
        ({"accountId": 1, "orderDate": "2020-01-01"}, "orderDate", "date_in_past"),
        ({"accountId": 1, "notes": "a\x00b"}, "notes", "invalid"),
        ({"accountId": 1, "notes": "x" * 2001}, "notes", "invalid"),
        ({"accountId": 1, "notes": 5}, "notes", "invalid"),
        ({"accountId": 1, "notes": "\ud800"}, "notes", "invalid"),
        ({"accountId": 1, "orderDate": "9999-12-31"}, "orderDate", "date_too_far"),
    ],
)
async def test_create_order_names_the_bad_field(api, tenant, body, field, code):
    if type(body.get("accountId")) is int and body["accountId"] == 1:
        body["accountId"] = tenant.account_id
    status, problem = await api.call(tenant, "POST", "/api/orders", body)
    assert status == 422, problem
    assert problem["code"] == "validation_error"
    assert {(e["field"], e["code"]) for e in problem["errors"]} >= {(field, code)}


async def test_read_only_fields_on_create_are_ignored(api, tenant):
    status, order = await api.call(
        tenant,
        "POST",
        "/api/orders",
        {
            "accountId": tenant.account_id,
            "id": 5,
            "status": "Completed",
            "expirationDate": "2099-01-01",
            "total": "9",
        },
    )
    assert status == 201
    assert order["status"] == "Draft" and order["total"] == "0.00" and order["expirationDate"] != "2099-01-01"


async def test_a_future_order_date_sets_the_expiration_a_week_later(api, tenant):
    day = datetime.date.today() + datetime.timedelta(days=30)
    status, order = await api.call(
        tenant, "POST", "/api/orders", {"accountId": tenant.account_id, "orderDate": day.isoformat()}
    )
    assert status == 201
    assert order["expirationDate"] == (day + datetime.timedelta(days=7)).isoformat()


async def test_malformed_json_wrong_type_and_oversize_bodies(api, client, tenant):
    headers = {**tenant.headers, "Content-Type": "application/json"}
    response = await client.post("/api/orders", data=b'{"accountId": ', headers=headers)
    assert (response.status, (await response.json(content_type=PROBLEM))["code"]) == (400, "malformed_json")
    response = await client.post("/api/orders", data=b'{"accountId": NaN}', headers=headers)
    assert response.status == 400
    response = await client.post("/api/orders", data=b"\xff\xfe", headers=headers)
    assert response.status == 400
    response = await client.post(
        "/api/orders", data=b"accountId=1", headers={**tenant.headers, "Content-Type": "text/plain"}
    )
    assert (response.status, (await response.json(content_type=PROBLEM))["code"]) == (
        415,
        "unsupported_media_type",
    )
    big = json.dumps({"accountId": tenant.account_id, "notes": "x" * (1024 * 1024)}).encode()
    response = await client.post("/api/orders", data=io.BytesIO(big), headers=headers)
    assert (response.status, (await response.json(content_type=PROBLEM))["code"]) == (
        413,
        "payload_too_large",
    )
    response = await client.post("/api/orders", data=b"[1, 2]", headers=headers)
    assert response.status == 422
    response = await client.post("/api/orders", data=b"[" * 100_000, headers=headers)
    assert (response.status, (await response.json(content_type=PROBLEM))["code"]) == (400, "malformed_json")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": 2**31}, "quantity"),
        ({"quantity": "2"}, "quantity"),
        ({"productId": 987654321}, "productId"),
        ({"productId": 2**64}, "productId"),
        ({"billingCycle": "Weekly"}, "billingCycle"),
        ({"billingCycle": "M\x00"}, "billingCycle"),
        ({"characteristics": [{"name": "nope", "value": 1}]}, "characteristics[0].name"),
        ({"characteristics": [{"name": "seats", "value": "many"}]}, "characteristics[0].value"),
        ({"characteristics": [{"name": "seats", "value": 1e300}]}, "characteristics[0].value"),
        ({"characteristics": [{"name": "tier", "value": "Platinum"}]}, "characteristics[0].value"),
        ({"characteristics": [{"name": "start", "value": "2026-02-30"}]}, "characteristics[0].value"),
        ({"characteristics": [{"name": "backup", "value": "yes"}]}, "characteristics[0].value"),
        ({"characteristics": [{"name": "domain", "value": "a\x00"}]}, "characteristics[0].value"),
        ({"characteristics": [{"name": "domain", "value": "\udfff"}]}, "characteristics[0].value"),
        ({"characteristics": [{"name": "seats"}]}, "characteristics[0].value"),
        ({"characteristics": "seats=1"}, "characteristics"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_add_item_names_the_bad_field_and_writes_nothing(api, conn, tenant, overrides, field):
    product = await api.product(
        characteristics=[
            {"name": "seats", "label": "Seats", "type": "number"},
            {"name": "tier", "label": "Tier", "type": "select", "options": ["Gold", "Silver"]},
            {"name": "start", "label": "Start", "type": "date"},
            {"name": "backup", "label": "Backup", "type": "boolean"},
            {"name": "domain", "label": "Domain", "type": "text"},
        ]
    )
    order = await api.draft(tenant)
    body = {"productId": product["id"], "quantity": 1, "billingCycle": "Monthly", **overrides}
    status, problem = await api.call(tenant, "POST", f"/api/orders/{order['id']}/items", body)
    assert status == 422, problem
    assert field in fields_of(problem), problem
    assert await conn.fetchval("SELECT count(*) FROM order_items") == 0


async def test_items_of_another_currency_are_refused(api, tenant):
    eur, usd = await api.product(), await api.product(currency="USD")
    order = await api.draft(tenant)
    await api.item(tenant, order["id"], eur)
    status, problem = await api.call(
        tenant,
        "POST",
        f"/api/orders/{order['id']}/items",
        {"productId": usd["id"], "quantity": 1, "billingCycle": "Monthly"},
    )
    assert status == 422 and problem["errors"][0]["code"] == "currency_mismatch"


async def test_put_values_is_all_or_nothing(api, tenant):
    for name, kind, extra in [
        ("ref", "text", {}),
        ("size", "select", {"options": ["S", "M"]}),
        ("hidden", "text", {"publishedToStorefront": False}),
    ]:
        await api.admin(
            "POST",
            f"/admin/resellers/{tenant.reseller_id}/customfields",
            {"name": name, "label": name.title(), "type": kind, **extra},
            expect=201,
        )
    order = await api.draft(tenant)
    path = f"/api/orders/{order['id']}/customfields"
    status, problem = await api.call(
        tenant, "PUT", path, [{"name": "ref", "value": "R1"}, {"name": "size", "value": "XL"}]
    )
    assert status == 422 and fields_of(problem) == {"body[1].value"}
    status, problem = await api.call(tenant, "PUT", path, [{"name": "hidden", "value": "x"}])
    assert status == 422 and problem["errors"][0]["code"] == "unknown_name"
    status, problem = await api.call(
        tenant, "PUT", path, [{"name": "ref", "value": "a"}, {"name": "ref", "value": "b"}]
    )
    assert status == 422 and problem["errors"][0]["code"] == "duplicate_name"
    status, problem = await api.call(tenant, "PUT", path, {"name": "ref", "value": "x"})
    assert status == 422
    status, listing = await api.call(tenant, "GET", path)
    assert [(f["name"], f["value"]) for f in listing] == [
        ("ref", None),
        ("size", None),
    ]  # unpublished is invisible
    status, listing = await api.call(
        tenant, "PUT", path, [{"name": "ref", "value": "R1"}, {"name": "size", "value": "M"}]
    )
    assert [(f["name"], f["value"]) for f in listing] == [("ref", "R1"), ("size", "M")]
    status, listing = await api.call(tenant, "PUT", path, [{"name": "ref", "value": None}])
    assert [(f["name"], f["value"]) for f in listing] == [("ref", None), ("size", "M")]


@pytest.mark.parametrize(
    "query",
    [
        "pageSize=0",
        "pageSize=201",
        "pageSize=abc",
        "pageSize=-1",
        "stage=Archived",
        "cursor=garbage",
        "cursor=WyJpdGVtcyIsIDFd",
        "accountId=99999999999999999999",
        "accountId=x",
        "fromDate=2026-13-01",
        "toDate=20261127",
        "status=" + "x" * 65,
    ],
)
async def test_bad_list_parameters_are_422(api, tenant, query):
    status, problem = await api.call(tenant, "GET", f"/api/orders?{query}")
    assert status == 422, problem
    assert problem["errors"][0]["field"] == query.split("=")[0]


async def test_ids_too_long_for_the_database_are_plain_404(api, tenant):
    for path in ("/api/orders/99999999999999999999", "/api/orders/1e5", "/api/orders/-1/items"):
        status, problem = await api.call(tenant, "GET", path)
        assert (status, problem["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sku": "bad sku"}, "sku"),
        ({"unitPrices": {"Monthly": "12.505", "Annually": "1"}}, "unitPrices.Monthly.value"),
        ({"unitPrices": {"Monthly": "-1", "Annually": "1"}}, "unitPrices.Monthly.value"),
        ({"unitPrices": {"Monthly": "1"}}, "unitPrices"),
        ({"currency": "euro"}, "currency"),
        ({"fulfillment": {"type": "http"}}, "fulfillment.url"),
        ({"fulfillment": {"type": "carrier-pigeon"}}, "fulfillment.type"),
        ({"characteristics": [{"name": "t", "label": "T", "type": "select"}]}, "characteristics[0].options"),
        ({"characteristics": [{"name": "1x", "label": "T", "type": "text"}]}, "characteristics[0].name"),
    ],
)
async def test_admin_product_validation(api, body, field):
    base = {
        "sku": "OK-1",
        "name": "P",
        "billingCycles": ["Monthly", "Annually"],
        "unitPrices": {"Monthly": "1.00", "Annually": "10.00"},
        "currency": "EUR",
        "fulfillment": {"type": "instant"},
    }
    problem = await api.admin("POST", "/admin/products", {**base, **body}, expect=422)
    assert field in fields_of(problem), problem


async def test_duplicate_sku_is_409(api):
    product = await api.product()
    problem = await api.admin(
        "POST",
        "/admin/products",
        {
            "sku": product["sku"],
            "name": "P",
            "billingCycles": ["Monthly"],
            "unitPrices": {"Monthly": "1"},
            "currency": "EUR",
            "fulfillment": {"type": "instant"},
        },
        expect=409,
    )
    assert problem["code"] == "already_exists"
