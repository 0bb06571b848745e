"""Starting as an operator does, in the wrong order too: one clear line or a
clear 503, never a traceback."""

from __future__ import annotations

import base64
import json
import signal
import urllib.request
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.api import ADMIN_TOKEN
from tests.process import free_port, service_env, start, status, wait_for_status


def _body(url: str, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_serve_before_its_migrations_waits_for_them_and_then_serves(empty_dsn):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = service_env(
        DATABASE_URL=empty_dsn, PORT=str(port), HOST="127.0.0.1", ADMIN_TOKEN=ADMIN_TOKEN,
        SHUTDOWN_DRAIN_SECONDS="0", POLL_INTERVAL_SECONDS="0.2",
    )
    process = start(["serve", "--no-migrate"], env=env)
    try:
        wait_for_status(f"{base}/health/live", 200, within=30, process=process)
        code, problem = _body(f"{base}/health/ready")
        assert (code, problem["code"]) == (503, "service_unavailable")
        assert "Migrations are not current (applied 0" in problem["detail"]
        code, problem = _body(f"{base}/api/orders", {"Authorization": "Bearer x"})
        assert code == 503 and "not migrated" in problem["detail"]
        code, problem = _body(f"{base}/admin/resellers/1", {"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert code == 503 and "not migrated" in problem["detail"]

        migrate = start(["migrate"], env=service_env(DATABASE_URL=empty_dsn))
        out, err = migrate.communicate(timeout=60)
        assert migrate.returncode == 0, err
        wait_for_status(f"{base}/health/ready", 200, within=10, process=process)
        code, reseller = _body(f"{base}/admin/resellers/1", {"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert code == 404  # served now: there simply is no reseller 1
        assert status(f"{base}/api/orders") == 401
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "Traceback" not in err
    assert "not migrated yet" in err


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("garbage", "DATABASE_URL must be a URL like postgresql://"),
        ("mysql://app:pw@db/orders", "its scheme is 'mysql'"),
        ("postgresql://app:pa/ss@db:5432/orders", "percent-encode special characters"),
    ],
)
def test_a_bad_database_url_is_named_without_its_password(url, says):
    process = start(["serve"], env=service_env(DATABASE_URL=url))
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert len(err.strip().splitlines()) == 1 and says in err
    assert "pw@" not in err and "pa/ss" not in err


def test_a_database_of_ones_own_without_a_secret_key_is_refused_in_one_line(dsn):
    for command in ("serve", "migrate"):
        process = start([command], env=service_env(DATABASE_URL=dsn, SECRET_KEY=""))
        _, err = process.communicate(timeout=30)
        assert process.returncode == 2
        (line,) = err.strip().splitlines()
        assert line.startswith("error: SECRET_KEY is required with DATABASE_URL: 32 random bytes in base64")


def test_a_secret_key_that_does_not_open_the_databases_secrets_stops_serve_in_one_line(dsn):
    other = base64.b64encode(bytes(32)).decode()
    process = start(["serve"], env=service_env(DATABASE_URL=dsn, SECRET_KEY=other, PORT=str(free_port())))
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    (line,) = err.strip().splitlines()
    assert "SECRET_KEY does not open this database's secrets" in line and other not in line


def test_a_short_admin_token_is_refused_in_one_line():
    process = start(["serve"], env=service_env(ADMIN_TOKEN="change-me"))
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert err.strip().splitlines() == ["error: ADMIN_TOKEN must be at least 16 characters, got 9"]


async def test_migrate_without_the_rights_to_create_says_so_in_one_line(empty_dsn):
    role = f"viewer_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(empty_dsn)
    await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
    await admin.execute(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {role}")
    await admin.close()
    parts = urlsplit(empty_dsn)
    host = parts.netloc.rpartition("@")[2]
    limited = urlunsplit(parts._replace(netloc=f"{role}:pw@{host}"))
    process = start(["migrate"], env=service_env(DATABASE_URL=limited))
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "permission denied" in lines[0] and "needs to own the schema" in lines[0], err


def _serve_until_ready(dsn: str, **settings: str) -> tuple[int, str]:
    """Start `serve`, wait until it is ready, stop it: its exit code and its log."""
    port = free_port()
    env = service_env(DATABASE_URL=dsn, PORT=str(port), HOST="127.0.0.1", SHUTDOWN_DRAIN_SECONDS="0", **settings)
    process = start(["serve"], env=env)
    try:
        wait_for_status(f"http://127.0.0.1:{port}/health/ready", 200, within=30, process=process)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    return process.returncode, err


def test_the_log_says_when_the_operator_api_is_disabled(dsn):
    _, err = _serve_until_ready(dsn)
    messages = [json.loads(line)["msg"] for line in err.splitlines() if line.startswith("{")]
    assert any("operator API /admin/* is disabled" in m for m in messages), messages


def test_serve_runs_on_uvloop_when_asked(dsn):
    returncode, err = _serve_until_ready(dsn, EVENT_LOOP="uvloop")
    assert returncode == 0, err
    assert "Traceback" not in err
    serving = [json.loads(line) for line in err.splitlines() if '"msg": "serving"' in line]
    assert serving and serving[0]["event_loop"] == "uvloop", err


async def test_a_second_serve_on_a_taken_port_says_so_and_touches_no_database(empty_dsn, tmp_path):
    """The port is checked before a database is started or migrated: neither the embedded
    one (DATA_DIR stays empty) nor DATABASE_URL's (no migration is applied)."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for database in ({"DATA_DIR": str(tmp_path / "data")}, {"DATABASE_URL": empty_dsn}):
            process = start(["serve"], env=service_env(HOST="127.0.0.1", PORT=str(port), **database))
            _, err = process.communicate(timeout=30)
            assert process.returncode == 2, err
            assert err.strip().splitlines() == [f"error: cannot listen on 127.0.0.1:{port}: Address already in use"]
    assert not (tmp_path / "data").exists()
    conn = await asyncpg.connect(empty_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
    finally:
        await conn.close()
