"""Check real responses against the OpenAPI document the service serves.

ConformingClient wraps the aiohttp test client: every response it returns has
been matched to its documented operation and status, its media type and body
validated against the documented schema (jsonschema, draft 2020-12, which
OpenAPI 3.1 uses), and it is recorded so a test can assert which operations
its flow exercised."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient


def schema_validator(document: dict, schema: dict) -> jsonschema.Draft202012Validator:
    # `#/components/...` references resolve against the root: give it the components.
    return jsonschema.Draft202012Validator(
        {**schema, "components": document["components"]}, format_checker=jsonschema.FormatChecker()
    )


def resolve(document: dict, node: dict) -> dict:
    while "$ref" in node:
        _, section, kind, name = node["$ref"].split("/")
        node = document[section][kind][name]
    return node


class Operations:
    """Match a concrete request to its documented operation."""

    def __init__(self, document: dict) -> None:
        self.document = document
        self._templates = [
            (re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$"), path)
            for path in document["paths"]
        ]

    def template(self, path: str) -> str | None:
        path = path.split("?", 1)[0]
        matches = [template for pattern, template in self._templates if pattern.match(path)]
        # /a/{x} and /a/literal may both match; the one with fewer parameters is the route.
        return min(matches, key=lambda t: t.count("{")) if matches else None

    def check(self, method: str, path: str, status: int, headers: Any, body: bytes) -> tuple[str, str, int]:
        template = self.template(path)
        assert template is not None, f"{method} {path} is not a documented path"
        operation = self.document["paths"][template].get(method.lower())
        assert operation is not None, f"{method} {template} is not documented"
        documented = operation["responses"].get(str(status))
        assert documented is not None, (
            f"{method} {template} answered {status}, not documented: {body[:300]!r}"
        )
        documented = resolve(self.document, documented)
        assert headers.get("X-Request-Id"), f"{method} {path}: no X-Request-Id"
        for name, header in documented.get("headers", {}).items():
            if resolve(self.document, header).get("required"):
                assert name in headers, f"{method} {template} {status}: header {name} missing"
        content = documented.get("content")
        if not content:
            assert body == b"", f"{method} {template} {status} has no documented body, got {body[:200]!r}"
            return method.upper(), template, status
        media = headers.get("Content-Type", "").split(";")[0].strip()
        assert media in content, f"{method} {template} {status}: {media!r} is not one of {list(content)}"
        validator = schema_validator(self.document, content[media]["schema"])
        instance = json.loads(body)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]
        assert not errors, f"{method} {template} {status} does not match its schema: {errors[:5]}"
        if "x-problem-codes" in documented:
            # Error codes are listed per response, not narrowed in the schema.
            assert instance["status"] == status, (method, template, instance)
            assert instance["code"] in documented["x-problem-codes"], (method, template, instance["code"])
            listed = documented.get("x-field-codes", [])
            for entry in instance["errors"]:
                assert entry["code"] in listed, (method, template, entry, listed)
        return method.upper(), template, status


class ConformingClient:
    """The aiohttp TestClient, checking every response against the document."""

    def __init__(self, client: TestClient, document: dict) -> None:
        self.client = client
        self.operations = Operations(document)
        self.seen: set[tuple[str, str, int]] = set()

    @property
    def server(self):
        """The test server, for the app's jobs (tests.subscription_support runs the poll job)."""
        return self.client.server

    async def request(self, method: str, path: str, **kwargs: Any) -> ClientResponse:
        response = await self.client.request(method, path, **kwargs)
        body = await response.read()  # kept by the response: callers can still .json()
        self.seen.add(self.operations.check(method, path, response.status, response.headers, body))
        return response

    async def get(self, path: str, **kwargs: Any) -> ClientResponse:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> ClientResponse:
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> ClientResponse:
        return await self.request("PUT", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> ClientResponse:
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> ClientResponse:
        return await self.request("DELETE", path, **kwargs)
