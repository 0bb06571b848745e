"""What fuzzing the service against its OpenAPI document found, pinned down."""

from __future__ import annotations

import json

import pytest

from tests.api import PROBLEM


@pytest.mark.parametrize("body", [None, 7, "text", {"name": "po_number", "value": "x"}])
async def test_a_value_list_that_is_not_a_list_is_422(api, body):
    tenant = await api.tenant()
    product = await api.product(characteristics=[{"name": "domain", "label": "Domain", "type": "text"}])
    order = await api.draft(tenant)
    item = await api.item(tenant, order["id"], product)
    for path in (f"/api/orders/{order['id']}/customfields", f"/api/orders/{order['id']}/items/{item['id']}/characteristics"):
        response = await api.client.put(
            path, data=json.dumps(body), headers={**tenant.headers, "Content-Type": "application/json"}
        )
        assert response.status == 422, await response.text()
        problem = await response.json(content_type=PROBLEM)
        assert problem["code"] == "validation_error"
        assert problem["errors"][0]["field"] == "body"
