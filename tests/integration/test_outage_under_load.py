"""PostgreSQL stopped and started while 8 clients write through a real `serve`
process: never a 500, and every write acknowledged with a 2xx is there after."""

from __future__ import annotations

import asyncio
import collections
import subprocess
import sys
import tempfile

import aiohttp
import asyncpg

from service import db, migrate
from tests.api import ADMIN_TOKEN, Api
from tests.keys import box
from tests.process import free_port, service_env, wait_for_status

CLIENTS = 8
RUN_SECONDS = 10.0
DOWN_AT, DOWN_FOR = 3.0, 3.0
RUNS = 5


async def _writer(session, tenant, product, stop: asyncio.Event, seen: dict) -> None:
    while not stop.is_set():
        async with session.post(
            "/api/orders", json={"accountId": tenant.account_id}, headers=tenant.headers
        ) as response:
            seen["status"][response.status] += 1
            body = await response.json(content_type=None)
            if response.status >= 500:
                seen["problems"].append(body)
            if response.status != 201:
                await asyncio.sleep(0.05)
                continue
            seen["orders"].append(body["id"])
        async with session.post(
            f"/api/orders/{body['id']}/items",
            json={"productId": product["id"], "quantity": 1, "billingCycle": "Monthly"},
            headers=tenant.headers,
        ) as response:
            seen["status"][response.status] += 1
            item = await response.json(content_type=None)
            if response.status == 201:
                seen["items"].append(item["id"])
            elif response.status >= 500:
                seen["problems"].append(item)


async def _outage(server) -> None:
    await asyncio.sleep(DOWN_AT)
    await asyncio.to_thread(server.stop)
    await asyncio.sleep(DOWN_FOR)
    await asyncio.to_thread(server.ensure_postgres_running)


async def test_a_database_restart_under_write_load_gives_no_500_and_loses_no_acknowledged_write(own_server):
    dsn = own_server.get_uri()
    conn = await asyncpg.connect(dsn)
    sql = db.sql_dir()
    await migrate.migrate(
        conn, migrate.discover(sql / "migrations"), db.load_queries(sql / "queries"), box=box()
    )
    await conn.close()
    port = free_port()
    env = service_env(
        DATABASE_URL=dsn,
        PORT=str(port),
        HOST="127.0.0.1",
        ADMIN_TOKEN=ADMIN_TOKEN,
        RATE_LIMIT_PER_MINUTE="0",
        SHUTDOWN_DRAIN_SECONDS="0",
        LOG_LEVEL="WARNING",
    )
    with tempfile.TemporaryFile(mode="w+") as log:
        # A file, not a pipe: every 503 logs a line, and a full pipe would stall the service.
        command = [sys.executable, "-m", "service", "serve"]
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        try:
            await asyncio.to_thread(
                wait_for_status, f"http://127.0.0.1:{port}/health/ready", 200, within=30, process=process
            )
            timeout = aiohttp.ClientTimeout(total=30)
            async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}", timeout=timeout) as session:
                api = Api(session)
                tenant = await api.tenant()
                product = await api.product()
                totals: collections.Counter = collections.Counter()
                for run in range(RUNS):
                    seen = {"status": collections.Counter(), "orders": [], "items": [], "problems": []}
                    stop = asyncio.Event()
                    writers = [
                        asyncio.create_task(_writer(session, tenant, product, stop, seen))
                        for _ in range(CLIENTS)
                    ]
                    outage = asyncio.create_task(_outage(own_server))
                    await asyncio.sleep(RUN_SECONDS)
                    await outage
                    stop.set()
                    await asyncio.gather(*writers)
                    totals.update(seen["status"])
                    assert 500 not in seen["status"], (run, seen["status"], seen["problems"][:3])
                    assert set(seen["status"]) <= {201, 503}, (run, seen["status"], seen["problems"][:3])
                    assert {p["code"] for p in seen["problems"]} <= {"database_unavailable"}
                    check = await asyncpg.connect(dsn)
                    try:
                        orders = await check.fetchval(
                            "SELECT count(*) FROM orders WHERE id = ANY($1::bigint[])", seen["orders"]
                        )
                        items = await check.fetchval(
                            "SELECT count(*) FROM order_items WHERE id = ANY($1::bigint[])", seen["items"]
                        )
                    finally:
                        await check.close()
                    assert (orders, items) == (len(seen["orders"]), len(seen["items"])), run
                    # The outage was felt, and the service came back without help.
                    assert seen["status"][503] > 0 and len(seen["orders"]) > 0, seen["status"]
                    assert (await api.call(tenant, "GET", "/api/orders?stage=Draft&pageSize=1"))[0] == 200
        finally:
            process.terminate()
            process.wait(timeout=30)
            log.seek(0)
            errors = [line for line in log if '"level": "error"' in line]
    assert not errors, errors[:5]
    sys.stderr.write(f"statuses over {RUNS} runs: {dict(totals)}\n")
