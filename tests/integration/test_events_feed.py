"""The feed's horizon: an event committed while an older transaction still runs is
held back, then served exactly once (and without the horizon filter, the same
reads lose it); and the feed under fire: two replicas, eight writers, commits
out of id order, one reader following the cursor, every event seen once."""

from __future__ import annotations

import asyncio
import base64
import itertools
import signal

import aiohttp
import asyncpg

from service import db
from tests.api import ADMIN_TOKEN, Api
from tests.process import free_port, service_env, start, wait_for_status

EVENTS = 2000
WRITERS = 8


async def _replica(dsn: str) -> tuple:
    port = free_port()
    env = service_env(
        DATABASE_URL=dsn,
        PORT=str(port),
        HOST="127.0.0.1",
        ADMIN_TOKEN=ADMIN_TOKEN,
        SHUTDOWN_DRAIN_SECONDS="0",
        LOG_LEVEL="WARNING",
    )
    process = start(["serve"], env=env)
    url = f"http://127.0.0.1:{port}"
    await asyncio.to_thread(wait_for_status, f"{url}/health/ready", 200, within=30, process=process)
    return process, url


async def _tenant(session: aiohttp.ClientSession, url: str) -> tuple[int, int, dict]:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with session.post(f"{url}/admin/resellers", json={"name": "Busy", "edition": "Standard"}, headers=admin) as r:
        reseller = await r.json()
    async with session.post(f"{url}/admin/products", headers=admin, json={
        "sku": "FEED-1", "name": "P", "billingCycles": ["Monthly"], "unitPrices": {"Monthly": "1.00"},
        "currency": "EUR", "fulfillment": {"type": "instant"},
    }) as r:
        product = await r.json()
    async with session.post(f"{url}/admin/resellers/{reseller['id']}/credentials", headers=admin) as r:
        creds = await r.json()
    basic = base64.b64encode(f"{creds['clientId']}:{creds['clientSecret']}".encode()).decode()
    async with session.post(
        f"{url}/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    ) as r:
        token = (await r.json())["access_token"]
    return reseller, product["id"], {"Authorization": f"Bearer {token}"}


async def test_a_reader_sees_every_event_once_while_replicas_commit_out_of_order(dsn):
    replicas = [await _replica(dsn), await _replica(dsn)]
    urls = [url for _, url in replicas]
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    conn = await asyncpg.connect(dsn)
    try:
        reseller, product_id, headers = await _tenant(session, urls[0])
        account_id = reseller["accountId"]
        written = itertools.count()
        done = asyncio.Event()

        async def writer(n: int) -> None:
            url = urls[n % 2]
            while next(written) < EVENTS:
                async with session.post(f"{url}/api/orders", json={"accountId": account_id}, headers=headers) as r:
                    assert r.status == 201, await r.text()
                    order = await r.json()
                for _ in range(3):
                    if next(written) >= EVENTS:
                        return
                    body = {"productId": product_id, "quantity": 1, "billingCycle": "Monthly"}
                    async with session.post(f"{url}/api/orders/{order['id']}/items", json=body, headers=headers) as r:
                        assert r.status == 201, await r.text()

        async def slow_writer() -> None:
            """Takes an event id, then commits only after the fast writers have committed later ones."""
            slow = await asyncpg.connect(dsn)
            try:
                order_id = await slow.fetchval(
                    "SELECT id FROM orders WHERE reseller_id = $1 ORDER BY id LIMIT 1", reseller["id"]
                )
                while not done.is_set():
                    async with slow.transaction():
                        await slow.execute(
                            "INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type) "
                            "VALUES ($1, $2, $3, 'order.values_changed', 'system')",
                            reseller["id"], order_id, account_id,
                        )
                        await asyncio.sleep(0.05)
            finally:
                await slow.close()

        api_seen: list[str] = []

        async def api_reader() -> None:
            cursor = ""
            idle_after_done = 0
            while idle_after_done < 3:
                async with session.get(f"{urls[1]}/api/events?pageSize=200&cursor={cursor}", headers=headers) as r:
                    assert r.status == 200, await r.text()
                    page = await r.json()
                assert page["nextCursor"]
                api_seen.extend(event["id"] for event in page["items"])
                cursor = page["nextCursor"]
                if done.is_set() and not page["items"]:
                    idle_after_done += 1
                await asyncio.sleep(0.01 if page["items"] else 0.05)

        first = await session.post(f"{urls[0]}/api/orders", json={"accountId": account_id}, headers=headers)
        assert first.status == 201
        readers = [asyncio.create_task(api_reader())]
        slow = asyncio.create_task(slow_writer())
        await asyncio.gather(*(writer(n) for n in range(WRITERS)))
        done.set()
        await slow
        await asyncio.wait_for(asyncio.gather(*readers), timeout=60)

        committed = {
            row["id"]
            for row in await conn.fetch("SELECT id FROM order_events WHERE reseller_id = $1", reseller["id"])
        }
        assert len(committed) >= EVENTS
        assert len(api_seen) == len(set(api_seen)), "an event was repeated"
        assert {int(e.removeprefix("evt_")) for e in api_seen} == committed, "an event was missed"
    finally:
        await session.close()
        await conn.close()
        for process, _ in replicas:
            process.send_signal(signal.SIGTERM)
        for process, _ in replicas:
            _, err = await asyncio.to_thread(process.communicate, timeout=20)
            assert process.returncode == 0, err
            assert '"level": "error"' not in err, err


QUERIES = db.load_queries(db.sql_dir() / "queries")
HORIZON = "  AND xid < pg_snapshot_xmin(pg_current_snapshot())\n"
UNFILTERED = QUERIES["events_feed"].replace(HORIZON, "")


async def _read(conn, sql: str, reseller_id: int, after: tuple[int, int]) -> tuple[list[int], tuple[int, int]]:
    """One page of the feed statement as the service runs it: event ids, and the next position."""
    rows = await conn.fetch(sql, reseller_id, str(after[0]), after[1], None, None, 200)
    if not rows:
        return [], after
    return [row["id"] for row in rows], (int(rows[-1]["feed_xid"]), rows[-1]["id"])


async def _older_then_newer(api: Api, tenant, conn, dsn) -> tuple[asyncpg.Connection, object, int]:
    """An older transaction writes an event and stays open; then a newer event commits
    through the API. Returns the older connection, its transaction and its event id."""
    older = await asyncpg.connect(dsn)
    transaction = older.transaction()
    await transaction.start()
    older_event = await older.fetchval(
        "INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type)"
        " VALUES ($1, 1, $2, 'order.values_changed', 'system') RETURNING id",
        tenant.reseller_id,
        tenant.account_id,
    )
    await api.draft(tenant)  # the newer event: a later transaction id, committed first
    return older, transaction, older_event


async def test_an_event_behind_an_older_transaction_is_held_back_then_served_once(api, conn, dsn):
    tenant = await api.tenant()
    older, transaction, older_event = await _older_then_newer(api, tenant, conn, dsn)
    try:
        # Through the API: the newer event is committed, yet not served while the older runs.
        status, page = await api.call(tenant, "GET", "/api/events")
        assert (status, page["items"]) == (200, []), "an event was served past the horizon"
        cursor = page["nextCursor"]
        ids, position = await _read(conn, QUERIES["events_feed"], tenant.reseller_id, (0, 0))
        assert ids == [] and position == (0, 0)
    finally:
        await transaction.commit()
        await older.close()
    # Now both, in commit-safe order, each once: the older transaction's event first.
    status, page = await api.call(tenant, "GET", f"/api/events?cursor={cursor}")
    served = [int(event["id"].removeprefix("evt_")) for event in page["items"]]
    assert served[0] == older_event and len(served) == 2 == len(set(served))
    status, after = await api.call(tenant, "GET", f"/api/events?cursor={page['nextCursor']}")
    assert after["items"] == []
    ids, position = await _read(conn, QUERIES["events_feed"], tenant.reseller_id, (0, 0))
    assert ids == served
    assert (await _read(conn, QUERIES["events_feed"], tenant.reseller_id, position))[0] == []


async def test_without_the_horizon_filter_the_same_reads_lose_the_older_event(api, conn, dsn):
    """The control: the feed statement with its horizon line taken out serves the newer
    event at once, moves past the older one's position, and never serves that one."""
    assert UNFILTERED != QUERIES["events_feed"]
    tenant = await api.tenant()
    older, transaction, older_event = await _older_then_newer(api, tenant, conn, dsn)
    try:
        ids, position = await _read(conn, UNFILTERED, tenant.reseller_id, (0, 0))
        assert len(ids) == 1 and older_event not in ids  # the newer one, served early
    finally:
        await transaction.commit()
        await older.close()
    later, _ = await _read(conn, UNFILTERED, tenant.reseller_id, position)
    assert older_event not in later, "the unfiltered reads did not lose the event: the test proved nothing"
    everything, _ = await _read(conn, UNFILTERED, tenant.reseller_id, (0, 0))
    assert older_event in everything  # it was committed: the cursor passed over it
