"""A rolling restart of two replicas on one port (REUSE_PORT), with a client
whose request body is still uploading when the old replica stops listening."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import time

import aiohttp
import pytest

from tests.api import ADMIN_TOKEN, Api
from tests.process import free_port, service_env, start

DRAIN = 1.0
BODY_TIMEOUT = 3.0
TRICKLE_SECONDS = 0.3


def _replica(dsn: str, port: int) -> subprocess.Popen:
    return start(
        ["serve"],
        env=service_env(
            DATABASE_URL=dsn,
            PORT=str(port),
            HOST="127.0.0.1",
            ADMIN_TOKEN=ADMIN_TOKEN,
            REUSE_PORT="true",
            LOG_LEVEL="WARNING",
            SHUTDOWN_DRAIN_SECONDS=str(DRAIN),
            BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
            RATE_LIMIT_PER_MINUTE="0",  # the background load is one credential at full speed
        ),
    )


async def _replica_ids(session: aiohttp.ClientSession, *, expected: int, within: float = 30) -> set[str]:
    """Request-id prefixes of the replicas answering on the port; a new connection
    each time, so the kernel spreads them."""
    seen: set[str] = set()
    deadline = time.monotonic() + within
    while len(seen) < expected and time.monotonic() < deadline:
        try:
            async with session.get("/health/ready", headers={"Connection": "close"}) as response:
                if response.status == 200:
                    seen.add(response.headers["X-Request-Id"].split("-")[0])
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    return seen


class SlowUpload:
    """A POST whose body trickles in, a byte every TRICKLE_SECONDS, until told to send the rest."""

    def __init__(self, writer: asyncio.StreamWriter, body: bytes) -> None:
        self.writer = writer
        self.rest = body
        self.task = asyncio.create_task(self._trickle())

    async def _trickle(self) -> None:
        while len(self.rest) > 1:
            self.writer.write(self.rest[:1])
            self.rest = self.rest[1:]
            await asyncio.sleep(TRICKLE_SECONDS)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def finish(self) -> None:
        await self.stop()
        self.writer.write(self.rest)
        await self.writer.drain()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], dict]:
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)).decode()
    status_line, *lines = head.strip().split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    body = await reader.readexactly(int(headers["content-length"]))
    return int(status_line.split()[1]), headers, json.loads(body)


@pytest.fixture
async def two_replicas(dsn):
    """Replica A serving, a slow client's connection on it, then replica B on the same port."""
    port = free_port()
    old = _replica(dsn, port)
    new = None
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
            assert len(await _replica_ids(session, expected=1)) == 1
            api = Api(session)
            tenant = await api.tenant()
            body = json.dumps({"accountId": tenant.account_id, "notes": "x" * 2000}).encode()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)  # only A listens yet
            writer.write(
                f"POST /api/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tenant.token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body[:100]
            )
            upload = SlowUpload(writer, body[100:])
            new = _replica(dsn, port)
            assert len(await _replica_ids(session, expected=2)) == 2, "replica B did not start answering"
            yield old, session, tenant, reader, upload
            await upload.stop()
            writer.close()
    finally:
        for process in (old, new):
            if process is not None and process.poll() is None:
                process.kill()
            if process is not None:
                process.communicate()


async def _load(session: aiohttp.ClientSession, headers: dict, stop: asyncio.Event) -> list[int]:
    statuses = []
    while not stop.is_set():
        async with session.get("/api/accounts", headers=headers) as response:
            statuses.append(response.status)
            await response.read()
    return statuses


async def test_an_upload_still_arriving_when_the_listener_closes_is_answered_and_the_exit_is_prompt(
    two_replicas,
):
    old, session, tenant, reader, upload = two_replicas
    stop = asyncio.Event()
    load = asyncio.create_task(_load(session, tenant.headers, stop))
    old.send_signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    await asyncio.sleep(DRAIN + 0.5)  # past the drain: the old replica's listener is closed
    await upload.finish()
    status, headers, order = await _read_answer(reader)
    assert status == 201, order
    await asyncio.to_thread(old.wait, 30)
    exited_after = time.monotonic() - stopped_at
    stop.set()
    statuses = await load
    assert old.returncode == 0
    assert exited_after <= DRAIN + 2, exited_after
    # The order the slow client was told about exists, seen through the replica left.
    assert (await Api(session).call(tenant, "GET", f"/api/orders/{order['id']}"))[0] == 200
    # Requests of other clients during the restart all succeeded, on one replica or the other.
    assert statuses and set(statuses) == {200}, statuses


async def test_an_upload_not_finished_soon_after_the_listener_closes_is_refused_at_once_with_503(
    two_replicas,
):
    old, session, tenant, reader, upload = two_replicas
    old.send_signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    # Still trickling when the upload's grace ends: the answer comes then, not at the shutdown timeout.
    await asyncio.sleep(DRAIN + BODY_TIMEOUT + 1.0)
    await upload.finish()  # the rest only now, then it reads: the answer is waiting, not a reset
    status, headers, problem = await _read_answer(reader)
    assert status == 503
    assert headers["connection"].lower() == "close"
    assert problem["code"] == "service_unavailable"
    assert headers["retry-after"] == "1"
    await asyncio.to_thread(old.wait, 30)
    assert old.returncode == 0
    assert time.monotonic() - stopped_at <= DRAIN + BODY_TIMEOUT + 3
    # Refused before the handler ran: no order was created.
    status, page = await Api(session).call(tenant, "GET", "/api/orders?stage=Draft")
    assert status == 200 and page["items"] == []


async def test_while_draining_answers_ask_clients_to_reconnect(dsn):
    port = free_port()
    process = _replica(dsn, port)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
            assert len(await _replica_ids(session, expected=1)) == 1
            async with session.get("/health/live") as response:
                assert response.status == 200 and response.headers.get("Connection", "").lower() != "close"
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)  # inside the drain
            async with session.get("/health/live") as response:
                # Still served, but kept-alive clients move to another replica before the listener closes.
                assert response.status == 200
                assert response.headers["Connection"].lower() == "close"
            async with session.get("/health/ready") as response:
                assert response.status == 503
        await asyncio.to_thread(process.wait, 30)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
