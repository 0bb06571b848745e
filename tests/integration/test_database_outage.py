"""Readiness follows the database: 503 while it is down, 200 once it is back."""

import asyncpg

from service import db, migrate
from service.app import create_app
from service.settings import Settings
from tests.keys import SECRET_KEY, box


async def test_readiness_goes_503_when_the_database_stops_and_200_when_it_returns(own_server, aiohttp_client):
    dsn = own_server.get_uri()
    sql = db.sql_dir()
    conn = await asyncpg.connect(dsn)
    await migrate.migrate(
        conn, migrate.discover(sql / "migrations"), db.load_queries(sql / "queries"), box=box()
    )
    await conn.close()
    client = await aiohttp_client(create_app(Settings(database_url=dsn, secret_key=SECRET_KEY), dsn=dsn))

    assert (await client.get("/health/ready")).status == 200

    own_server.stop()
    down = await client.get("/health/ready")
    assert down.status == 503
    assert (await down.json(content_type="application/problem+json"))["code"] == "service_unavailable"
    assert (await client.get("/health/live")).status == 200

    own_server.ensure_postgres_running()
    # The pool drops its dead connections and opens new ones.
    statuses = [(await client.get("/health/ready")).status for _ in range(3)]
    assert statuses[-1] == 200
