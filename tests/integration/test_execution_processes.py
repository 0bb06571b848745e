"""Several service processes on one database, as replicas run in production."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.request

from tests.execution_support import checked_out, executions, order_row, product, tenant
from tests.process import free_port, service_env, start, wait_for_status

REPLICAS = 3


def _stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/stats", timeout=5) as response:
        return json.load(response)


async def test_replicas_provision_each_item_exactly_once_and_stop_cleanly(conn, dsn):
    sim_port = free_port()
    sim = start(
        ["connector-sim", "--port", str(sim_port), "--delay", "0.2", "--seed", "1"], env=service_env()
    )
    sim_url = f"http://127.0.0.1:{sim_port}"
    replicas = []
    try:
        await asyncio.to_thread(wait_for_status, f"{sim_url}/stats", 200, within=20, process=sim)
        tenancy = await tenant(conn)
        remote = await product(conn, {"type": "http", "url": sim_url})
        instant = await product(conn, {"type": "instant"})
        orders = [(await checked_out(conn, tenancy, [remote] * 8 + [instant]))[0] for _ in range(3)]
        for _ in range(REPLICAS):
            port = free_port()
            env = service_env(
                DATABASE_URL=dsn,
                PORT=str(port),
                HOST="127.0.0.1",
                POLL_INTERVAL_SECONDS="0.1",
                SHUTDOWN_DRAIN_SECONDS="0",
                CONNECTOR_CONCURRENCY="3",
                LOG_LEVEL="WARNING",
            )
            replicas.append((start(["serve"], env=env), port))
        for process, port in replicas:
            await asyncio.to_thread(
                wait_for_status, f"http://127.0.0.1:{port}/health/ready", 200, within=30, process=process
            )

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            statuses = [(await order_row(conn, order))["status"] for order in orders]
            if statuses == ["Completed"] * len(orders):
                break
            await asyncio.sleep(0.1)
        assert statuses == ["Completed"] * len(orders)

        items = [
            i for order in orders for i, row in (await executions(conn, order)).items() if row["operation_id"]
        ]
        stats = await asyncio.to_thread(_stats, sim_url)
        assert stats == {"submissions": {f"item-{i}": 1 for i in items}, "provisioned": len(items)}
        assert len(items) == 8 * len(orders)
    finally:
        for process, _ in replicas:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _ in replicas:
            try:
                _, err = await asyncio.to_thread(process.communicate, timeout=20)
            finally:
                if process.poll() is None:
                    process.kill()
            assert process.returncode == 0, err
            assert '"level": "error"' not in err, err
        sim.send_signal(signal.SIGTERM)
        sim.communicate(timeout=10)
