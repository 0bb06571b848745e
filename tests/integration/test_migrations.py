import asyncio
import shutil

import asyncpg
import pytest

from service import db, migrate
from tests.keys import box

SQL = db.sql_dir()
QUERIES = db.load_queries(SQL / "queries")


async def _run(dsn, directory=SQL / "migrations"):
    conn = await asyncpg.connect(dsn, **db.connect_kwargs())
    try:
        return await migrate.migrate(conn, migrate.discover(directory), QUERIES, box=box())
    finally:
        await conn.close()


async def test_racing_runners_apply_each_file_exactly_once(empty_dsn):
    results = await asyncio.gather(*(_run(empty_dsn) for _ in range(6)))
    applied = [m.filename for result in results for m in result]
    files = [m.filename for m in migrate.discover(SQL / "migrations")]
    assert sorted(applied) == sorted(files)
    conn = await asyncpg.connect(empty_dsn)
    rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    await conn.close()
    assert [r["version"] for r in rows] == [m.version for m in migrate.discover(SQL / "migrations")]


async def test_a_second_run_applies_nothing(empty_dsn):
    assert await _run(empty_dsn)
    assert await _run(empty_dsn) == []


async def test_an_applied_file_that_was_edited_is_refused(empty_dsn, tmp_path):
    directory = tmp_path / "migrations"
    shutil.copytree(SQL / "migrations", directory)
    await _run(empty_dsn, directory)
    first = sorted(directory.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- an innocent edit\n")
    with pytest.raises(migrate.MigrationError, match="was edited after it was applied"):
        await _run(empty_dsn, directory)


async def test_a_failing_migration_leaves_nothing_half_applied(empty_dsn, tmp_path):
    directory = tmp_path / "migrations"
    shutil.copytree(SQL / "migrations", directory)
    (directory / "9998_good_then_bad.sql").write_text("CREATE TABLE half_written (id int);\nSELECT 1 / 0;\n")
    with pytest.raises(asyncpg.DivisionByZeroError):
        await _run(empty_dsn, directory)
    conn = await asyncpg.connect(empty_dsn)
    assert await conn.fetchval("SELECT to_regclass('half_written')") is None
    assert await conn.fetchval("SELECT count(*) FROM schema_migrations WHERE version = 9998") == 0
    await conn.close()


def _statements(sql: str) -> list[str]:
    """A query, or each statement of a script (service.db.Database.script), its slots
    filled with a value that is both an integer and hex digits."""
    if not db.SLOT.search(sql) and ";" not in sql:
        return [sql]
    return [statement.strip() for statement in db.SLOT.sub("'01'", sql).split(";\n") if statement.strip()]


async def test_every_named_query_prepares_against_the_migrated_schema(conn):
    failures = {}
    for name, sql in QUERIES.items():
        for statement in _statements(sql):
            try:
                await conn.prepare(statement)
            except asyncpg.PostgresError as exc:
                failures[name] = str(exc)
    assert failures == {}
    assert len(_statements(QUERIES["idempotency_store_refusal"])) == 4  # the scripts' statements are checked too
