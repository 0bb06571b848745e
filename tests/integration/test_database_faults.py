"""Database faults: a broken connection never serves again, a write whose
commit outcome is unknown says so, and clients get 503, never 500."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from service import db, migrate
from service.app import create_app
from service.settings import Settings
from service.state import SERVICES
from tests.api import ADMIN_TOKEN, PROBLEM, Api
from tests.keys import SECRET_KEY, box

QUERIES = {
    "pid": "SELECT pg_backend_pid()",
    "insert": "INSERT INTO fault_rows (note) VALUES ($1::text) RETURNING id",
    "sleep": "SELECT pg_sleep($1::double precision)",
}


@pytest.fixture
async def scratch(conn):
    await conn.execute("CREATE TABLE fault_rows (id bigserial PRIMARY KEY, note text NOT NULL)")
    # COMMIT of a transaction that wrote a row takes a second: time to break it mid-commit.
    await conn.execute(
        """
        CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$;
        CREATE CONSTRAINT TRIGGER fault_rows_slow_commit AFTER INSERT ON fault_rows
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.note = 'slow')
        EXECUTE FUNCTION slow_commit();
        """
    )
    return conn


async def _pool(dsn, **kwargs) -> asyncpg.Pool:
    return await asyncpg.create_pool(dsn, min_size=1, max_size=1, **kwargs)


async def _terminate_when(conn, pid: int, query_like: str) -> None:
    """Terminate backend pid once it is running a statement like query_like."""
    for _ in range(200):
        running = await conn.fetchval(
            "SELECT query FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", pid
        )
        if running and query_like in running:
            await conn.execute("SELECT pg_terminate_backend($1)", pid)
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"backend {pid} never ran {query_like!r}")


async def test_a_connection_that_breaks_on_its_way_back_to_the_pool_does_not_fail_the_write(dsn, scratch):
    failures = []

    async def reset(connection):
        if not failures:
            failures.append(True)
            raise ConnectionResetError("connection reset while returning to the pool")

    pool = await _pool(dsn, reset=reset)
    database = db.Database(pool=pool, queries=QUERIES)
    try:
        first = await database.fetchval("pid")
        # The write committed and its answer came back: that is what the caller hears.
        row_id = await database.fetchval("insert", "kept")
        assert await scratch.fetchval("SELECT note FROM fault_rows WHERE id = $1", row_id) == "kept"
        # The connection that failed its reset was terminated, not handed out again.
        assert await database.fetchval("pid") != first
    finally:
        await pool.close()


async def test_a_connection_lost_during_commit_is_an_unknown_outcome_and_is_discarded(dsn, scratch):
    pool = await _pool(dsn)
    database = db.Database(pool=pool, queries=QUERIES)
    try:
        pid = await database.fetchval("pid")
        killer = asyncio.create_task(_terminate_when(scratch, pid, "COMMIT"))
        with pytest.raises(db.OutcomeUnknown):
            async with database.transaction():
                await database.fetchval("insert", "slow")
        await killer
        assert db.unavailable(db.OutcomeUnknown())
        assert await database.fetchval("pid") != pid
    finally:
        await pool.close()


async def test_a_connection_lost_before_commit_is_plain_unavailability_and_nothing_is_written(dsn, scratch):
    pool = await _pool(dsn)
    database = db.Database(pool=pool, queries=QUERIES)
    try:
        pid = await database.fetchval("pid")
        killer = asyncio.create_task(_terminate_when(scratch, pid, "pg_sleep"))
        with pytest.raises(Exception) as raised:
            async with database.transaction():
                await database.fetchval("insert", "never")
                await database.fetchval("sleep", 5)
        await killer
        assert db.unavailable(raised.value) and not isinstance(raised.value, db.OutcomeUnknown)
        assert await scratch.fetchval("SELECT count(*) FROM fault_rows") == 0
        assert await database.fetchval("pid") != pid
    finally:
        await pool.close()


async def test_outside_a_transaction_only_a_lost_write_is_an_unknown_outcome(dsn, scratch):
    pool = await _pool(dsn)
    slow_insert = "INSERT INTO fault_rows (note) SELECT 'x' FROM pg_sleep(5)"
    database = db.Database(pool=pool, queries={**QUERIES, "slow_insert": slow_insert})
    try:
        pid = await database.fetchval("pid")
        killer = asyncio.create_task(_terminate_when(scratch, pid, "pg_sleep"))
        with pytest.raises(db.OutcomeUnknown):
            await database.execute("slow_insert")
        await killer
        pid = await database.fetchval("pid")
        killer = asyncio.create_task(_terminate_when(scratch, pid, "pg_sleep"))
        with pytest.raises(Exception) as raised:
            await database.fetchval("sleep", 5)
        await killer
        assert db.unavailable(raised.value) and not isinstance(raised.value, db.OutcomeUnknown)
    finally:
        await pool.close()


async def test_a_statement_past_the_bound_is_cancelled_by_the_server_and_is_unavailability(dsn, scratch):
    # The bound lives in PostgreSQL (statement_timeout), not in a client timer per query.
    pool = await db.create_pool(dsn, max_size=1, statement_timeout=0.2)
    slow_insert = "INSERT INTO fault_rows (note) SELECT 'x' FROM pg_sleep(2)"
    database = db.Database(pool=pool, queries={**QUERIES, "slow_insert": slow_insert})
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(Exception) as raised:
            await database.execute("slow_insert")
        assert asyncio.get_running_loop().time() - started < 1.5
        # The server answered: the statement did not commit, and that is known.
        assert db.unavailable(raised.value) and not isinstance(raised.value, db.OutcomeUnknown)
        assert await scratch.fetchval("SELECT count(*) FROM fault_rows") == 0
        assert await database.fetchval("pid") > 0  # the connection serves again
    finally:
        await pool.close()


async def test_a_write_whose_outcome_is_unknown_answers_503_saying_it_may_have_been_applied(api, client):
    tenant = await api.tenant()

    async def lost(*args, **kwargs):
        raise db.OutcomeUnknown("connection lost during COMMIT")

    client.app[SERVICES].orders.create = lost
    status, problem = await api.call(tenant, "POST", "/api/orders", {"accountId": tenant.account_id})
    assert status == 503
    assert problem["code"] == "database_unavailable"
    assert "may or may not have been applied" in problem["detail"]
    assert "Idempotency-Key" in problem["detail"]


@pytest.mark.parametrize(
    "fault",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.CrashShutdownError("terminating connection because of crash of another"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation is in progress"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.InterfaceError("connection is closed"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
    ],
    ids=lambda fault: type(fault).__name__,
)
async def test_every_database_availability_fault_is_503_with_retry_after(api, client, fault):
    tenant = await api.tenant()

    async def failing(*args, **kwargs):
        raise fault

    client.app[SERVICES].orders.get = failing
    response = await client.get("/api/orders/1", headers=tenant.headers)
    assert response.status == 503
    problem = await response.json(content_type=PROBLEM)
    assert problem["code"] == "database_unavailable"
    assert "may" not in problem["detail"]  # a read has no outcome to doubt
    assert int(response.headers["Retry-After"]) >= 1


async def test_a_programming_error_is_still_a_500(api, client):
    tenant = await api.tenant()

    async def broken(*args, **kwargs):
        raise asyncpg.exceptions.UndefinedColumnError("column x does not exist")

    client.app[SERVICES].orders.get = broken
    response = await client.get("/api/orders/1", headers=tenant.headers)
    assert response.status == 500
    assert "column" not in await response.text()


async def test_a_stopped_database_answers_writes_and_reads_503(own_server, aiohttp_client):
    dsn = own_server.get_uri()
    conn = await asyncpg.connect(dsn)
    sql = db.sql_dir()
    await migrate.migrate(
        conn, migrate.discover(sql / "migrations"), db.load_queries(sql / "queries"), box=box()
    )
    await conn.close()
    settings = Settings(database_url=dsn, admin_token=ADMIN_TOKEN, secret_key=SECRET_KEY)
    client = await aiohttp_client(create_app(settings, dsn=dsn))
    api = Api(client)
    tenant = await api.tenant()
    own_server.stop()
    try:
        for method, path, body in (
            ("POST", "/api/orders", {"accountId": tenant.account_id}),
            ("GET", "/api/orders?stage=All", None),
        ):
            status, problem = await api.call(tenant, method, path, body)
            assert status == 503, problem
            assert problem["code"] == "database_unavailable"
    finally:
        own_server.ensure_postgres_running()
