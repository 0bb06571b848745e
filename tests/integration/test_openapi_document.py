"""docs/openapi.json: the committed document is the one the code builds, and a
third-party validator (openapi-core) accepts real requests and answers against it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from openapi_core import Config, OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.testing import MockRequest, MockResponse

from service.http.openapi import document_text
from tests.api import Api

# openapi-core has no provider for OAuth2 schemes and warns for each request under
# resellerToken: the token's presence is not checked here, the rest of the request is
# (tests/integration/test_auth.py and test_scopes.py test the tokens themselves).
pytestmark = pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning")

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "openapi.json"
REGENERATE = "python -m service openapi > docs/openapi.json"


def test_the_command_prints_the_committed_document():
    printed = subprocess.run(
        [sys.executable, "-m", "service", "openapi"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == COMMITTED.read_text(), (
        f"docs/openapi.json differs from what the code produces; regenerate it with `{REGENERATE}`"
    )


async def test_the_served_document_is_the_committed_one(client):
    """Whatever the settings, the service serves the document in the repository."""
    assert document_text(client.app) == COMMITTED.read_text(), (
        f"docs/openapi.json differs from what the code produces; regenerate it with `{REGENERATE}`"
    )


def test_fulfillment_shapes_are_components_the_discriminator_maps_to():
    schemas = json.loads(COMMITTED.read_text())["components"]["schemas"]
    fulfillment = schemas["Fulfillment"]
    mapping = fulfillment["discriminator"]["mapping"]
    assert {ref["$ref"] for ref in fulfillment["oneOf"]} == set(mapping.values())
    for kind, ref in mapping.items():
        shape = schemas[ref.rsplit("/", 1)[1]]
        assert shape["properties"]["type"]["const"] == kind


class Recorder:
    """The aiohttp test client, keeping every exchange as openapi-core sees one."""

    def __init__(self, client) -> None:
        self.client = client
        self.exchanges: list[tuple[MockRequest, MockResponse]] = []

    async def request(self, method: str, path: str, *, json: Any = None, data: Any = None, headers=None):
        headers = dict(headers or {})
        body, media = b"", None
        if json is not None:
            body, media = _json_bytes(json), "application/json"
        elif isinstance(data, dict):
            body, media = urlencode(data).encode(), "application/x-www-form-urlencoded"
        if media:
            headers["Content-Type"] = media
        response = await self.client.request(method, path, data=body or None, headers=headers)
        answer = await response.read()
        parts = urlsplit(path)
        self.exchanges.append(
            (
                MockRequest(
                    "http://localhost",
                    method,
                    parts.path,
                    args=dict(parse_qsl(parts.query)),
                    headers=headers,
                    data=body,
                    content_type=media or "",
                ),
                MockResponse(
                    answer,
                    status_code=response.status,
                    headers=dict(response.headers),
                    content_type=response.headers.get("Content-Type", "").split(";")[0],
                ),
            )
        )
        return response

    async def post(self, path: str, **kwargs: Any):
        return await self.request("POST", path, **kwargs)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


@pytest.fixture
def spec() -> OpenAPI:
    # Every error is application/problem+json, which openapi-core does not read as JSON by itself.
    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    return OpenAPI.from_dict(json.loads(COMMITTED.read_text()), config=config)


async def test_a_real_flow_validates_against_the_committed_document(client, spec):
    recorder = Recorder(client)
    api = Api(recorder)
    tenant = await api.tenant()
    instant = await api.product(
        characteristics=[{"name": "domain", "label": "Domain", "type": "text", "required": True}]
    )
    connector = await api.product(fulfillment={"type": "http", "url": "https://connector.example.com"})
    order = await api.draft(tenant, tenant.customer_id)
    base = f"/api/orders/{order['id']}"
    item = await api.item(
        tenant, order["id"], instant, characteristics=[{"name": "domain", "value": "a.example"}]
    )
    await api.item(tenant, order["id"], connector)
    for method, path, body, status in [
        ("GET", f"{base}/items/{item['id']}", None, 200),
        (
            "PUT",
            f"{base}/items/{item['id']}/characteristics",
            [{"name": "domain", "value": "b.example"}],
            200,
        ),
        ("GET", "/api/orders?stage=All&pageSize=2", None, 200),
        ("POST", f"{base}/checkout", None, 202),
        ("GET", f"{base}/execute/status", None, 200),
        ("GET", f"{base}/events", None, 200),
        ("GET", "/api/products", None, 200),
        ("GET", "/api/orders/999999", None, 404),
        ("POST", "/api/orders", {"accountId": tenant.account_id, "extra": 1}, 422),
    ]:
        assert (await api.call(tenant, method, path, body))[0] == status, (method, path)
    # An invalid fulfillment is refused by the service; the document must refuse it too.
    await api.admin(
        "POST", "/admin/products", {**_product_body("SKU-BAD"), "fulfillment": {"type": "http"}}, expect=422
    )

    assert len(recorder.exchanges) > 15
    for request, response in recorder.exchanges:
        spec.validate_response(request, response)
        if response.status_code < 400:
            spec.validate_request(request)


def _product_body(sku: str, fulfillment: dict | None = None) -> dict:
    return {
        "sku": sku,
        "name": "Mailbox",
        "billingCycles": ["Monthly"],
        "unitPrices": {"Monthly": "1.00"},
        "currency": "EUR",
        "fulfillment": fulfillment or {"type": "instant"},
    }


@pytest.mark.parametrize(
    ("fulfillment", "valid"),
    [
        ({"type": "instant"}, True),
        ({"type": "http", "url": "https://connector.example.com"}, True),
        ({"type": "http"}, False),
        ({"type": "instant", "url": "https://connector.example.com"}, False),
        ({"type": "carrier-pigeon"}, False),
    ],
)
def test_product_bodies_are_told_apart_by_their_fulfillment(spec, fulfillment, valid):
    request = MockRequest(
        "http://localhost",
        "POST",
        "/admin/products",
        headers={"Authorization": "Bearer operator", "Content-Type": "application/json"},
        data=_json_bytes(_product_body("SKU-1", fulfillment)),
    )
    if valid:
        spec.validate_request(request)
    else:
        with pytest.raises(OpenAPIError, match="Request body validation error"):
            spec.validate_request(request)
