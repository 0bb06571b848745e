"""Real receiving servers, a resolver tests control, and apps that send webhooks fast."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from standardwebhooks import Webhook

from service.app import create_app
from service.state import WEBHOOK_RESOLVER
from tests.api import Api, Tenant

PUBLIC_IP = "93.184.215.14"  # a public address; nothing in the tests ever connects to it


@dataclasses.dataclass
class Received:
    webhook_id: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when it arrived

    @property
    def event(self) -> dict:
        return json.loads(self.body)


Respond = Callable[[Received, int], Awaitable[web.StreamResponse] | web.StreamResponse]


class Receiver:
    """Records every request; answers with `respond(received, attempt)` (default 204)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.respond: Respond | None = None
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        received = Received(
            webhook_id=request.headers.get("webhook-id", ""),
            headers=dict(request.headers),
            body=await request.read(),
            at=time.time(),
        )
        self.received.append(received)
        self.arrived.set()
        attempt = sum(1 for r in self.received if r.webhook_id == received.webhook_id)
        if self.respond is None:
            return web.Response(status=204)
        answer = self.respond(received, attempt)
        return await answer if asyncio.iscoroutine(answer) else answer

    def ids(self) -> list[str]:
        return [r.webhook_id for r in self.received]

    def verified(self, secret: str) -> list[dict]:
        """Every request verified as a receiver would, with the standardwebhooks package."""
        return [Webhook(secret).verify(r.body, r.headers) for r in self.received]


@pytest.fixture
def receiver(aiohttp_server):
    """receiver() -> (url, Receiver): a real HTTP server on 127.0.0.1."""

    async def start(path: str = "/hooks") -> tuple[str, Receiver]:
        found = Receiver()
        app = web.Application()
        app.router.add_post(path, found.handle)
        server = await aiohttp_server(app, host="127.0.0.1")
        return str(server.make_url(path)), found

    return start


class FakeResolver(AbstractResolver):
    """Answers from `hosts` (name -> addresses), which a test may change at any time."""

    def __init__(self, hosts: dict[str, list[str]] | None = None) -> None:
        self.hosts = dict(hosts or {})
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.hosts:
            raise OSError(f"{host}: name not known")
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
            for address in self.hosts[host]
        ]

    async def close(self) -> None:
        pass


def fast(settings, **changes):
    """Jobs every 0.1 s and a short retry schedule; webhooks may go to 127.0.0.1 unless told otherwise."""
    values = {
        "poll_interval_seconds": 0.1,
        "webhook_poll_interval_seconds": 0.1,
        "webhook_allow_private_urls": True,
        "webhook_retry_schedule": (0.2, 0.2),
    }
    values.update(changes)
    return dataclasses.replace(settings, **values)


@pytest.fixture
def webhook_api(dsn, settings, aiohttp_client):
    """webhook_api(resolver=None, **settings changes) -> Api of an app with those settings."""

    async def start(*, resolver: AbstractResolver | None = None, **changes) -> Api:
        app = create_app(fast(settings, **changes), dsn=dsn)
        if resolver is not None:
            app[WEBHOOK_RESOLVER] = resolver
        return Api(await aiohttp_client(app))

    return start


async def subscribe(api: Api, tenant: Tenant, url: str, **body: Any) -> dict:
    status, created = await api.call(tenant, "POST", "/api/webhooks", {"url": url, **body})
    assert status == 201, created
    return created


async def deliveries(api: Api, tenant: Tenant, webhook_id: int) -> list[dict]:
    status, page = await api.call(tenant, "GET", f"/api/webhooks/{webhook_id}/deliveries?pageSize=200")
    assert status == 200, page
    return page["items"]


async def eventually(
    check: Callable[[], Awaitable[Any]], *, within: float = 10.0, every: float = 0.05
) -> Any:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if result := await check():
            return result
        await asyncio.sleep(every)
    raise AssertionError(f"not true within {within}s")
