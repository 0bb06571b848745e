"""The service as an operator runs it: a real process, real signals."""

import asyncio
import base64
import json
import signal
import stat
import time
import urllib.request
from pathlib import Path

from tests.process import free_port, service_env, start, status, wait_for_status


def test_a_bad_port_ends_the_process_with_one_clear_line():
    process = start(["serve"], env=service_env(PORT="eighty"))
    out, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert err.strip().splitlines() == ["error: PORT must be a whole number, got 'eighty'"]


def test_an_unreachable_database_ends_the_process_with_one_clear_line():
    port = free_port()
    process = start(["serve"], env=service_env(DATABASE_URL=f"postgresql://app:hunter2@127.0.0.1:{port}/db"))
    out, err = process.communicate(timeout=30)
    assert process.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: cannot connect to the database at 127.0.0.1:{port}/db")
    assert "hunter2" not in err


def test_sigterm_turns_readiness_503_then_exits_cleanly(dsn):
    port = free_port()
    process = start(
        ["serve"],
        env=service_env(DATABASE_URL=dsn, PORT=str(port), HOST="127.0.0.1", SHUTDOWN_DRAIN_SECONDS="2"),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_status(f"{base}/health/ready", 200, within=30, process=process)
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        wait_for_status(f"{base}/health/ready", 503, within=1.5)
        assert status(f"{base}/health/live") == 200  # still serving while draining
        process.wait(timeout=15)
        assert time.monotonic() - started < 15
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
        _, err = process.communicate()
    # One structured line per request: method, path, status, duration, request id.
    lines = [json.loads(line) for line in err.splitlines()]
    requests = [line for line in lines if line["msg"] == "request"]
    assert {(r["method"], r["path"], r["status"]) for r in requests} >= {
        ("GET", "/health/ready", 200),
        ("GET", "/health/ready", 503),
        ("GET", "/health/live", 200),
    }
    for line in requests:
        assert line["duration_ms"] >= 0 and line["request_id"] and line["ts"].endswith("Z")


def test_embedded_default_from_an_empty_directory_is_ready_and_keeps_its_data(tmp_path):
    # No DATABASE_URL: the service starts its own PostgreSQL under ./.data, and
    # generates its SECRET_KEY there on the first start (private to its user).
    kept = []
    for attempt in ("first", "second"):
        port = free_port()
        env = service_env(PORT=str(port), HOST="127.0.0.1", SECRET_KEY="")
        process = start(["serve"], env=env, cwd=tmp_path)
        try:
            took = wait_for_status(f"http://127.0.0.1:{port}/health/ready", 200, within=30, process=process)
            assert took < 30
        finally:
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        applied_now = "migration applied" in err
        assert applied_now is (attempt == "first")
        assert (tmp_path / ".data" / "pg" / "PG_VERSION").exists()
        key_file = tmp_path / ".data" / "secret_key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        kept.append(key_file.read_text())
    assert kept[0] == kept[1] and len(base64.b64decode(kept[0])) == 32
    migrate = start(["migrate"], env=service_env(SECRET_KEY=""), cwd=tmp_path)
    out, err = migrate.communicate(timeout=60)
    assert migrate.returncode == 0, err
    assert "nothing to apply" in out


def test_workers_share_the_port_and_stop_together(dsn):
    port = free_port()
    process = start(
        ["serve"],
        env=service_env(
            DATABASE_URL=dsn, PORT=str(port), HOST="127.0.0.1", WORKERS="2", SHUTDOWN_DRAIN_SECONDS="0"
        ),
    )
    try:
        wait_for_status(f"http://127.0.0.1:{port}/health/ready", 200, within=30, process=process)
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(children) == 2
        # Generated request ids start with a per-process prefix: seeing two proves both serve the port.
        prefixes = set()
        deadline = time.monotonic() + 30
        while len(prefixes) < 2 and time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=5) as response:
                prefixes.add(response.headers["X-Request-Id"].split("-")[0])
        assert len(prefixes) == 2
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        assert process.returncode == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in children)
    finally:
        if process.poll() is None:
            process.kill()
        _, err = process.communicate()
    stopped = [line for line in err.splitlines() if '"msg": "stopped"' in line]
    assert len(stopped) == 2, err[-2000:]


async def test_a_request_in_flight_at_sigterm_still_gets_its_answer(api, conn, dsn):
    """The request waits on a row lock we hold; SIGTERM arrives; we let go; it still answers 200."""
    tenant = await api.tenant()
    order = await api.draft(tenant)
    port = free_port()
    process = start(
        ["serve"],
        env=service_env(DATABASE_URL=dsn, PORT=str(port), HOST="127.0.0.1", SHUTDOWN_DRAIN_SECONDS="0"),
    )
    try:
        await asyncio.to_thread(
            wait_for_status, f"http://127.0.0.1:{port}/health/ready", 200, within=30, process=process
        )
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/orders/{order['id']}/customfields",
            data=b"[]",
            method="PUT",
            headers={**tenant.headers, "Content-Type": "application/json"},
        )

        def call() -> int:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status

        async with conn.transaction():
            await conn.execute("SELECT id FROM orders WHERE id = $1 FOR UPDATE", order["id"])
            in_flight = asyncio.create_task(asyncio.to_thread(call))
            for _ in range(100):  # until the request is waiting on our lock
                waiting = await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                if waiting:
                    break
                await asyncio.sleep(0.05)
            assert waiting
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            assert not in_flight.done()
        assert await in_flight == 200
        await asyncio.to_thread(process.wait, 20)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
