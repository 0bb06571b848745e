"""Slow clients against a real `serve` process: half-sent request heads are
closed after HEADER_TIMEOUT_SECONDS while others are served quickly, a body
that stops arriving answers 408, and idle kept-alive connections are left alone."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import time

import aiohttp
import pytest

from tests.api import ADMIN_TOKEN, Api
from tests.process import free_port, service_env, start, wait_for_status

HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 1.5


@pytest.fixture
async def service(dsn):
    port = free_port()
    process = start(
        ["serve"],
        env=service_env(
            DATABASE_URL=dsn,
            PORT=str(port),
            HOST="127.0.0.1",
            ADMIN_TOKEN=ADMIN_TOKEN,
            LOG_LEVEL="WARNING",
            SHUTDOWN_DRAIN_SECONDS="0",
            HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT),
            BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
            RATE_LIMIT_PER_MINUTE="0",  # the latency probe sends far more than a minute's budget
        ),
    )
    try:
        await asyncio.to_thread(
            wait_for_status, f"http://127.0.0.1:{port}/health/ready", 200, within=30, process=process
        )
        yield port
    finally:
        process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


async def _closed_by_server(reader: asyncio.StreamReader) -> float:
    """Wait until the server closes the connection; return when."""
    try:
        while await reader.read(1024):
            pass
    except ConnectionError:
        pass
    return time.monotonic()


async def test_half_sent_heads_are_closed_after_the_header_timeout_while_requests_stay_fast(service):
    port = service
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
        api = Api(session)
        tenant = await api.tenant()
        order = await api.draft(tenant)
        path = f"/api/orders/{order['id']}"

        connections, opened_at = [], []
        for _ in range(500):
            # Taken before connecting: the server's timer cannot start earlier, while a loaded
            # loop may resume this task well after the server accepted the connection.
            opened_at.append(time.monotonic())
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /api/orders HT")  # half a request line, and nothing more
            connections.append((reader, writer))
        opened = time.monotonic()
        closings = [asyncio.create_task(_closed_by_server(reader)) for reader, _ in connections]

        latencies = []
        while time.monotonic() - opened < HEADER_TIMEOUT + 2:
            started = time.perf_counter()
            async with session.get(path, headers=tenant.headers) as response:
                assert response.status == 200
                await response.read()
            latencies.append(time.perf_counter() - started)
        assert all(task.done() for task in closings), "a half-open connection outlived the header timeout"
        # Each from its own opening: opening 500 takes a while on a loaded machine.
        closed_after = [await task - start for task, start in zip(closings, opened_at, strict=True)]
        for _, writer in connections:
            writer.close()
    # Closed by the timeout, not before it; normal requests kept their pace meanwhile.
    assert min(closed_after) >= HEADER_TIMEOUT - 0.1
    assert max(closed_after) <= HEADER_TIMEOUT + 2
    p99 = statistics.quantiles(latencies, n=100)[98]
    assert len(latencies) > 50 and p99 < 0.1, (len(latencies), p99)


async def test_a_body_that_stops_arriving_answers_408_and_closes(service):
    port = service
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
        api = Api(session)
        tenant = await api.tenant()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(
        f"POST /api/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tenant.token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"accountId\"".encode()
    )
    answer = await asyncio.wait_for(reader.read(), timeout=BODY_TIMEOUT + 5)
    took = time.monotonic() - started
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0].startswith("HTTP/1.1 408"), lines[0]
    assert "connection: close" in {line.lower() for line in lines}
    assert json.loads(body)["code"] == "request_timeout"
    assert BODY_TIMEOUT - 0.1 <= took <= BODY_TIMEOUT + 2


async def test_an_idle_kept_alive_connection_is_not_a_slow_head(service):
    port = service
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    for _ in range(2):
        writer.write(request)
        status = await asyncio.wait_for(reader.readline(), timeout=5)
        assert status.startswith(b"HTTP/1.1 200")
        head = await reader.readuntil(b"\r\n\r\n")
        lengths = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
        await reader.readexactly(int(lengths[0].split(b":")[1]))
        await asyncio.sleep(HEADER_TIMEOUT + 1.5)  # idle between requests: keep-alive, not a slow head
    writer.close()
