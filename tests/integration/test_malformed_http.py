"""Requests aiohttp cannot parse are problems too, when served as `serve` does."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from service.app import create_app
from service.http import protocol
from tests.process import free_port


@pytest.fixture
async def served(settings, dsn):
    port = free_port()
    runner = protocol.AppRunner(create_app(settings, dsn=dsn), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield port
    await runner.cleanup()


async def raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        # The server closes the connection after a bad request, so this ends.
        data = await asyncio.wait_for(reader.read(), timeout=5)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /api/accounts?cursor=" + b"A" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",
        b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n",
        b"GET /health/live HTTP/9.9 extra\r\n\r\n",
    ],
    ids=["long request line", "long header", "control character in a header", "not HTTP"],
)
async def test_unparseable_requests_answer_problem_json_with_a_request_id(served, request_bytes):
    status, headers, body = await raw(served, request_bytes)
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["code"] == "bad_request"
    assert problem["requestId"] == headers["x-request-id"]
    assert set(problem) == {"type", "title", "status", "detail", "code", "errors", "requestId"}


async def test_parseable_requests_are_served_as_before(served):
    status, headers, body = await raw(
        served, b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status == 200
    assert json.loads(body) == {"status": "ok"}
    assert headers["x-request-id"]


def test_an_oversized_header_is_logged_as_one_access_line_not_an_error(dsn):
    """A client's malformed request is the client's mistake: the log shows the request like any
    other, not an ERROR with aiohttp's traceback."""
    import signal

    from tests.process import service_env, start, wait_for_status

    port = free_port()
    env = service_env(DATABASE_URL=dsn, PORT=str(port), HOST="127.0.0.1", SHUTDOWN_DRAIN_SECONDS="0")
    process = start(["serve"], env=env)
    try:
        wait_for_status(f"http://127.0.0.1:{port}/health/live", 200, within=30, process=process)
        status, headers, _ = asyncio.run(
            raw(port, b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n")
        )
        assert status == 400
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    bad = [line for line in lines if line.get("msg") == "request" and line.get("status") == 400]
    assert len(bad) == 1 and bad[0]["request_id"] == headers["x-request-id"], lines
    assert not [line for line in lines if line["level"] == "error"], lines
    assert "Traceback" not in err
