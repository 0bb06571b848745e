"""The benchmark's own PostgreSQL: embedded pgserver under bench/.work, migrated by the project's runner."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import asyncpg
import psutil

from service import db, migrate
from service.embedded import embedded_postgres
from service.secretbox import SecretBox, key_text

logger = logging.getLogger(__name__)

BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = BENCH_DIR / ".work"
DATABASE = "bench"
# The databases of a run are made and served within it: one key per run of the harness.
SECRET_KEY = os.urandom(32)
SECRET_KEY_TEXT = key_text(SECRET_KEY)


def bench_queries() -> Mapping[str, str]:
    return db.load_queries(BENCH_DIR / "sql")


@contextlib.contextmanager
def postgres(work_dir: Path = WORK_DIR) -> Iterator[str]:
    """Start the embedded PostgreSQL (the one `python -m service serve` uses); yield the server DSN."""
    with embedded_postgres(work_dir) as dsn:
        yield dsn


def database_dsn(server_dsn: str, name: str = DATABASE) -> str:
    # pgserver's DSN is postgresql://postgres:@/postgres?host=<socket dir>.
    head, _, query = server_dsn.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


async def recreate_database(server_dsn: str, name: str = DATABASE) -> str:
    """A fresh, empty database for this run; return its DSN."""
    conn = await asyncpg.connect(server_dsn)
    try:
        # The name is a constant of this module, never user input.
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return database_dsn(server_dsn, name)


async def apply_migrations(dsn: str) -> list[str]:
    """Migrate with the project's own runner, exactly as `python -m service migrate` does."""
    sql = db.sql_dir()
    queries = db.load_queries(sql / "queries")
    conn = await asyncpg.connect(dsn, **db.connect_kwargs())
    try:
        applied = await migrate.migrate(
            conn, migrate.discover(sql / "migrations"), queries, box=SecretBox(SECRET_KEY)
        )
    finally:
        await conn.close()
    return [m.filename for m in applied]


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn, **db.connect_kwargs())
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    return conn


async def create_pool(dsn: str, *, max_size: int) -> asyncpg.Pool:
    """The ceiling's pool: the bare stack at its best, carrying none of the service's
    choices. No reset round trip on release (its connections keep no session state)
    and PostgreSQL's default plan caching; only the session time zone is the
    service's, because current_date in the queries must mean the same day."""

    async def init(conn: asyncpg.Connection) -> None:
        for type_name in ("json", "jsonb"):
            await conn.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")

    async def no_reset(conn: asyncpg.Connection) -> None:
        pass

    return await asyncpg.create_pool(
        dsn, min_size=1, max_size=max_size, init=init, reset=no_reset,
        server_settings={"timezone": "UTC"},
    )


def postmaster_pid(work_dir: Path = WORK_DIR) -> int:
    return int((work_dir / "pg" / "postmaster.pid").read_text().split()[0])


def postgres_processes(work_dir: Path = WORK_DIR) -> list[psutil.Process]:
    """The postmaster and every backend/worker it forked."""
    root = psutil.Process(postmaster_pid(work_dir))
    return [root, *root.children(recursive=True)]
