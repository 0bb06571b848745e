"""GET /api/events/stream in one process: format, resume, handover, filters, tenancy, limits.

The hub's fallback timer is set to a minute here, so an event that arrives
within seconds arrived because the database notified the listener (the 1 s
bound itself is measured across processes in test_live_processes.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import socket

import asyncpg
import pytest

from service.state import DATABASE, LIVE_HUB
from tests.sse import Stream

STREAM = "/api/events/stream"


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, sse_fallback_poll_seconds=60.0, sse_keepalive_seconds=15.0)


async def open_stream(client, tenant, query: str = "", headers: dict | None = None) -> Stream:
    response = await client.get(STREAM + query, headers={**tenant.headers, **(headers or {})})
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "text/event-stream"
    stream = Stream(response)
    opening = await stream.next()
    assert opening is not None and opening.data is None and opening.retry == 2000
    resumed = "Last-Event-ID" in (headers or {}) or "cursor=" in query
    # A stream that starts now says where; a resumed one never repeats the id it resumed from.
    assert (opening.id is None) == resumed, opening
    if resumed:
        stream.last_id = (headers or {}).get("Last-Event-ID") or query.split("cursor=", 1)[1].split("&")[0]
    return stream


async def feed(api, tenant, query: str = "") -> list[dict]:
    """Every event of the reseller from GET /api/events, following nextCursor."""
    events, cursor = [], ""
    while True:
        status, page = await api.call(tenant, "GET", f"/api/events?pageSize=200&cursor={cursor}{query}")
        assert status == 200, page
        if not page["items"]:
            return events
        events += page["items"]
        cursor = page["nextCursor"]


async def insert_events(conn, tenant, count: int, *, order_id: int = 1, kind: str = "order.values_changed"):
    await conn.execute(
        "INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type)"
        " SELECT $1, $2, $3, $4, 'system' FROM generate_series(1, $5)",
        tenant.reseller_id, order_id, tenant.account_id, kind, count,
    )


async def stalled_client(served, token: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw client with a tiny receive buffer that asks for a stream and never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((served.host, served.port))
    sock.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(f"GET {STREAM} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    await writer.drain()
    return reader, writer


async def insert_big_events(conn, tenant, hundreds: int) -> None:
    """hundreds × 100 events of 8 kB each: far more than socket buffers hold."""
    padding = "x" * 8000
    for _ in range(hundreds):
        await conn.execute(
            "INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type, data)"
            " SELECT $1, 1, $2, 'order.values_changed', 'system', jsonb_build_object('pad', $3::text)"
            " FROM generate_series(1, 100)",
            tenant.reseller_id, tenant.account_id, padding,
        )


async def test_an_event_is_streamed_as_it_commits_and_its_id_is_a_feed_cursor(client, api):
    tenant = await api.tenant()
    stream = await open_stream(client, tenant)
    order = await api.draft(tenant)
    message = await stream.next_event(within=5.0)
    assert message.event == "order.created"
    status, trail = await api.call(tenant, "GET", f"/api/orders/{order['id']}/events")
    assert message.json == trail["items"][0]  # the same representation as the feed's
    # The id is a cursor the feed takes: polling from it continues right after the event.
    await api.draft(tenant)
    status, page = await api.call(tenant, "GET", f"/api/events?cursor={message.id}")
    assert status == 200 and [e["type"] for e in page["items"]] == ["order.created"]
    assert page["items"][0]["orderId"] != order["id"]
    stream.close()


async def test_a_stream_without_a_cursor_starts_now_and_says_where(client, api):
    tenant = await api.tenant()
    await api.draft(tenant)
    response = await client.get(STREAM, headers=tenant.headers)
    stream = Stream(response)
    opening = await stream.next()
    assert opening.retry == 2000 and opening.data is None
    # The opening id stands after the existing event: polling from it finds nothing old.
    _, page = await api.call(tenant, "GET", f"/api/events?cursor={opening.id}")
    assert page["items"] == []
    newer = await api.draft(tenant)
    message = await stream.next_event(within=5.0)
    assert message.json["orderId"] == newer["id"]
    stream.close()


async def test_resuming_with_last_event_id_over_1000_events_loses_and_repeats_nothing(client, api, dsn):
    """Writers commit 1,000 events (and another reseller's) in interleaving transactions while
    a reader keeps disconnecting after a random number of messages and resuming from the last
    id, by Last-Event-ID or ?cursor=. The messages read must be exactly the feed."""
    tenant = await api.tenant()
    other = await api.tenant(name="Other Cloud")
    first = await open_stream(client, tenant)
    last = first.last_id
    first.close()
    total, rng = 1000, random.Random(7)
    left = {"n": total}

    async def writer(seed: int) -> None:
        rand = random.Random(seed)
        conn = await asyncpg.connect(dsn)
        try:
            while left["n"] > 0:
                count = min(rand.randint(1, 3), left["n"])
                left["n"] -= count
                async with conn.transaction():
                    await insert_events(conn, tenant, count, order_id=seed)
                    if rand.random() < 0.3:
                        await insert_events(conn, other, 1)
                    # Held open a little, so commits land out of xid order.
                    await asyncio.sleep(rand.random() * 0.01)
        finally:
            await conn.close()

    writers = asyncio.gather(*(writer(seed) for seed in range(1, 5)))
    seen: list[dict] = []
    resumes = 0
    while len(seen) < total:
        if resumes % 2:
            stream = await open_stream(client, tenant, headers={"Last-Event-ID": last})
        else:
            stream = await open_stream(client, tenant, query=f"?cursor={last}")
        for _ in range(rng.randint(1, 120)):
            message = await stream.next_event(within=10.0)
            seen.append(message.json)
            last = message.id
            if len(seen) == total:
                break
        stream.close()
        resumes += 1
    await writers
    expected = await feed(api, tenant)
    assert len(expected) == total
    assert [e["id"] for e in seen] == [e["id"] for e in expected]
    assert resumes > 10


async def test_the_handover_from_backlog_to_live_neither_loses_nor_repeats(client, api, conn, monkeypatch):
    """An event the hub reads just before a new stream's backlog read is in both; one it reads
    just after the backlog read is in neither the backlog nor (without subscribing first) the
    stream. Both must arrive exactly once, in order."""
    tenant = await api.tenant()
    await insert_events(conn, tenant, 3, order_id=1)
    hub = client.app[LIVE_HUB]
    db = client.app[DATABASE]
    real_fetch = db.fetch

    async def committed_and_read_by_the_hub(order_id: int) -> None:
        await insert_events(conn, tenant, 1, order_id=order_id)
        row = await conn.fetchrow("SELECT xid::text AS feed_xid, id FROM order_events ORDER BY id DESC LIMIT 1")
        async with asyncio.timeout(2):
            while hub.position < (int(row["feed_xid"]), row["id"]):
                await asyncio.sleep(0.005)

    async def backlog_read_between_two_commits(name, *args):
        if name != "events_feed":
            return await real_fetch(name, *args)
        monkeypatch.setattr(db, "fetch", real_fetch)  # only the first backlog read
        await committed_and_read_by_the_hub(order_id=100)  # in the backlog and queued
        rows = await real_fetch(name, *args)
        await committed_and_read_by_the_hub(order_id=200)  # queued only
        return rows

    monkeypatch.setattr(db, "fetch", backlog_read_between_two_commits)
    start = "WyJmZWVkIiwgMCwgMF0"  # the start of the feed
    stream = await open_stream(client, tenant, headers={"Last-Event-ID": start})
    messages = await stream.events(5, within=5)
    assert [m.json["orderId"] for m in messages] == [1, 1, 1, 100, 200]
    assert [m.json["id"] for m in messages] == [e["id"] for e in await feed(api, tenant)]
    assert await stream.quiet(within=0.5), "an event came twice"


async def test_filters_select_messages_and_ids_stay_feed_cursors(client, api, conn):
    tenant = await api.tenant()
    by_order = await open_stream(client, tenant, "?orderId=7")
    by_type = await open_stream(client, tenant, "?type=order.cancelled")
    both = await open_stream(client, tenant, "?orderId=7&type=order.cancelled")
    await insert_events(conn, tenant, 1, order_id=7)
    await insert_events(conn, tenant, 1, order_id=8, kind="order.cancelled")
    await insert_events(conn, tenant, 1, order_id=7, kind="order.cancelled")
    assert [m.json["orderId"] for m in await by_order.events(2)] == [7, 7]
    assert [(m.json["orderId"], m.event) for m in await by_type.events(2)] == [
        (8, "order.cancelled"),
        (7, "order.cancelled"),
    ]
    (only,) = await both.events(1)
    assert (only.json["orderId"], only.event) == (7, "order.cancelled")
    # Resuming a filtered stream from its id, and polling from it, agree.
    _, page = await api.call(tenant, "GET", f"/api/events?cursor={only.id}")
    assert page["items"] == []
    for stream in (by_order, by_type, both):
        assert await stream.quiet(within=0.3), "an event the filter excludes"


@pytest.mark.parametrize(
    ("query", "headers", "field"),
    [
        ("?type=order.nothing", {}, "type"),
        ("?orderId=0", {}, "orderId"),
        ("?orderId=abc", {}, "orderId"),
        ("?cursor=bm9wZQ", {}, "cursor"),
        ("", {"Last-Event-ID": "WyJvcmRlcnMiLCAxXQ"}, "cursor"),
    ],
)
async def test_bad_filters_and_cursors_answer_422(client, api, query, headers, field):
    tenant = await api.tenant()
    response = await client.get(STREAM + query, headers={**tenant.headers, **headers})
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    assert (await response.json())["errors"][0]["field"] == field


async def test_a_stream_needs_a_token_with_orders_read(client, api):
    tenant = await api.tenant()
    assert (await client.get(STREAM)).status == 401
    writer = await api.colleague(tenant, ["orders:write"])
    response = await client.get(STREAM, headers=writer.headers)
    assert response.status == 403
    assert (await response.json())["code"] == "insufficient_scope"
    free = await api.tenant(edition="Free", name="Free Cloud")  # reading is every edition's right
    stream = await open_stream(client, free)
    stream.close()


async def test_a_stream_never_shows_another_resellers_events(client, api, conn):
    mine = await api.tenant(name="Mine")
    theirs = await api.tenant(name="Theirs")
    await insert_events(conn, theirs, 5)
    backlog = await open_stream(client, mine, headers={"Last-Event-ID": "WyJmZWVkIiwgMCwgMF0"})
    live = await open_stream(client, mine)
    await insert_events(conn, theirs, 5)
    await insert_events(conn, mine, 1, order_id=42)
    for stream in (backlog, live):
        (message,) = await stream.events(1)
        assert message.json["orderId"] == 42 and message.json["accountId"] == mine.account_id
        assert await stream.quiet(within=0.3), "another reseller's event"


async def test_keepalive_comments_while_nothing_happens(client, api, settings, aiohttp_client, dsn):
    from service.app import create_app

    app = create_app(dataclasses.replace(settings, sse_keepalive_seconds=0.2), dsn=dsn)
    quick = await aiohttp_client(app)
    tenant = await api.tenant()
    response = await quick.get(STREAM, headers=tenant.headers)
    stream = Stream(response)
    await stream.next()
    for _ in range(3):
        message = await stream.next(within=0.5)
        assert message.comments == ["keepalive"] and message.data is None
    stream.close()


async def test_open_streams_per_credential_are_capped(api, settings, aiohttp_client, dsn):
    from service.app import create_app

    app = create_app(dataclasses.replace(settings, sse_max_streams_per_credential=2), dsn=dsn)
    capped = await aiohttp_client(app)
    tenant = await api.tenant()
    streams = [await open_stream(capped, tenant) for _ in range(2)]
    response = await capped.get(STREAM, headers=tenant.headers)
    assert response.status == 429
    body = await response.json()
    assert body["code"] == "too_many_streams" and int(response.headers["Retry-After"]) >= 1
    colleague = await api.colleague(tenant)  # the cap is per credential, not per reseller
    other = await open_stream(capped, colleague)
    # Closing a stream frees its place once the server notices the client left.
    streams[0].close()
    async with asyncio.timeout(5):
        while (response := await capped.get(STREAM, headers=tenant.headers)).status == 429:
            await asyncio.sleep(0.2)
    assert response.status == 200
    response.close()
    for stream in (streams[1], other):
        stream.close()


async def test_a_revoked_credential_loses_its_stream_within_5_seconds(client, api):
    tenant = await api.tenant()
    spare = await api.colleague(tenant, ["orders:read"])
    stream = await open_stream(client, spare)
    await api.admin("DELETE", f"/admin/resellers/{tenant.reseller_id}/credentials/{spare.client_id}", expect=204)
    assert await stream.ended(within=5.0)


async def test_a_stream_ends_when_its_token_expires(api, settings, aiohttp_client, dsn):
    from service.app import create_app
    from tests.api import Api

    app = create_app(dataclasses.replace(settings, token_ttl_seconds=2), dsn=dsn)
    short = await aiohttp_client(app)
    tenant = await Api(short).tenant()
    stream = await open_stream(short, tenant)
    assert not await stream.ended(within=0.5)
    assert await stream.ended(within=4.0)
    assert (await short.get(STREAM, headers=tenant.headers)).status == 401


async def test_a_stream_ends_after_its_lifetime_and_resumes_without_loss(api, settings, aiohttp_client, dsn, conn):
    from service.app import create_app

    app = create_app(dataclasses.replace(settings, sse_max_stream_seconds=0.3), dsn=dsn)
    brief = await aiohttp_client(app)
    tenant = await api.tenant()
    stream = await open_stream(brief, tenant)
    assert await stream.ended(within=2.0)
    await insert_events(conn, tenant, 3)
    again = await open_stream(brief, tenant, headers={"Last-Event-ID": stream.last_id})
    assert len(await again.events(3)) == 3


async def test_a_client_that_stops_reading_is_dropped_and_others_are_not(
    api, settings, aiohttp_client, dsn, conn
):
    from service.app import create_app

    app = create_app(dataclasses.replace(settings, sse_queue_size=500), dsn=dsn)
    served = await aiohttp_client(app)
    hub = app[LIVE_HUB]
    tenant = await api.tenant()
    reader = await open_stream(served, tenant)
    reading = asyncio.create_task(reader.events(2000, within=60))
    _, stalled = await stalled_client(served, tenant.token)
    async with asyncio.timeout(2):
        while len(hub.subscriptions) < 2:
            await asyncio.sleep(0.01)
    # 16 MB of events: far more than the socket buffers and the queue of 500 hold.
    await insert_big_events(conn, tenant, 20)
    async with asyncio.timeout(20):
        while len(hub.subscriptions) > 1:
            await asyncio.sleep(0.05)
    # The reader that keeps up got every event, and its stream is still open.
    assert len(await reading) == 2000
    assert len(hub.subscriptions) == 1
    stalled.close()
    reader.close()


async def test_a_queue_overflowing_during_the_backlog_read_makes_the_stream_read_again(
    api, settings, aiohttp_client, dsn, conn, monkeypatch
):
    """While a new stream reads its last backlog page, more events come than its queue holds:
    they are dropped from the queue, so the stream must read the backlog once more."""
    from service.app import create_app

    app = create_app(dataclasses.replace(settings, sse_queue_size=200), dsn=dsn)
    served = await aiohttp_client(app)
    hub, db = app[LIVE_HUB], app[DATABASE]
    real_fetch = db.fetch
    overflowed = []

    async def flood_during_the_last_backlog_read(name, *args):
        rows = await real_fetch(name, *args)
        if name == "events_feed" and len(rows) < args[-1] and not overflowed:
            await insert_events(conn, tenant, 250)
            async with asyncio.timeout(2):
                while not any(sub.overflowed for sub in hub.subscriptions):
                    await asyncio.sleep(0.005)
            overflowed.append(True)
        return rows

    tenant = await api.tenant()
    await insert_events(conn, tenant, 450)
    monkeypatch.setattr(db, "fetch", flood_during_the_last_backlog_read)
    stream = await open_stream(served, tenant, headers={"Last-Event-ID": "WyJmZWVkIiwgMCwgMF0"})
    messages = await stream.events(700, within=10)
    assert overflowed
    assert [m.json["id"] for m in messages] == [e["id"] for e in await feed(api, tenant)]
    assert await stream.quiet(within=0.3)
    stream.close()


async def test_an_event_held_back_by_an_older_transaction_arrives_when_it_ends(client, api, dsn):
    """An older transaction without events holds the feed's horizon: its commit sends no
    notification, so the hub must read again on its own, shortly, not at the minute timer."""
    tenant = await api.tenant()
    stream = await open_stream(client, tenant)
    older = await asyncpg.connect(dsn)
    transaction = older.transaction()
    await transaction.start()
    try:
        await older.fetchval("SELECT pg_current_xact_id()")  # from now on it holds the horizon
        order = await api.draft(tenant)
        assert await stream.quiet(within=0.5), "an event streamed past the feed's horizon"
    finally:
        await transaction.commit()
        await older.close()
    message = await stream.next_event(within=5.0)
    assert message.json["orderId"] == order["id"]
    stream.close()


async def test_the_stream_survives_the_listener_losing_its_connection(client, api, conn):
    tenant = await api.tenant()
    stream = await open_stream(client, tenant)
    killed = await conn.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE application_name = 'reseller-ordering-listener' AND datname = current_database()"
    )
    assert killed == 1
    await asyncio.sleep(1.0)  # the listener reconnects after its first backoff
    order = await api.draft(tenant)
    message = await stream.next_event(within=5.0)
    assert message.json["orderId"] == order["id"]
    stream.close()


async def test_a_transaction_notifies_once_and_a_statement_inserting_nothing_not_at_all(api, conn, dsn):
    tenant = await api.tenant()
    listener = await asyncpg.connect(dsn)
    heard: list[str] = []
    await listener.add_listener("order_events", lambda *args: heard.append(args[3]))
    insert = (
        "INSERT INTO order_events (reseller_id, order_id, account_id, type, actor_type)"
        " SELECT $1, 1, 1, 'order.created', 'system' FROM generate_series(1, $2)"
    )
    try:
        await conn.execute(insert, tenant.reseller_id, 0)  # like the poll job's empty claims
        async with conn.transaction():
            await conn.execute(insert, tenant.reseller_id, 3)
            await conn.execute(insert, tenant.reseller_id, 2)
        with pytest.raises(ZeroDivisionError):
            async with conn.transaction():
                await conn.execute(insert, tenant.reseller_id, 1)
                raise ZeroDivisionError  # rolled back: nothing to hear about
        await asyncio.sleep(0.3)
        assert heard == [""]
        await conn.execute(insert, tenant.reseller_id, 1)
        await asyncio.sleep(0.3)
        assert heard == ["", ""]
    finally:
        await listener.close()


async def test_feed_and_stream_order_transaction_ids_as_numbers(client, api, conn):
    """xid 100 comes after xid 99, though '100' < '99' as text (the feed once sorted so)."""
    tenant = await api.tenant()
    await conn.execute(
        "INSERT INTO order_events (xid, reseller_id, order_id, account_id, type, actor_type)"
        " VALUES ('99', $1, 1, $2, 'order.created', 'system'), ('100', $1, 2, $2, 'order.created', 'system')",
        tenant.reseller_id, tenant.account_id,
    )
    assert [e["orderId"] for e in await feed(api, tenant)] == [1, 2]
    stream = await open_stream(client, tenant, headers={"Last-Event-ID": "WyJmZWVkIiwgMCwgMF0"})
    assert [m.json["orderId"] for m in await stream.events(2)] == [1, 2]
    stream.close()
    db = client.app[DATABASE]  # the hub's own reads
    assert [r["order_id"] for r in await db.fetch("live_events_after", "0", 0, 10)] == [1, 2]
    assert (await db.fetchrow("live_head"))["feed_xid"] == "100"


async def test_the_hubs_read_walks_the_position_index(conn, client):
    sql = client.app[DATABASE].queries["live_events_after"]
    # An empty table: ask what plan it would use for a large one.
    await conn.execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
    plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + sql, "0", 0, 200))
    assert "order_events_position_idx" in plan and "Sort" not in plan, plan


async def test_a_hub_that_skips_ahead_while_nobody_listens_does_not_skip_a_new_streams_event(
    client, api, conn, monkeypatch
):
    """With no stream open the hub moves to the newest position without reading events. If a
    stream opens while that query runs and an event commits before its snapshot is taken,
    the move would pass over an event the stream is owed."""
    tenant = await api.tenant()
    hub, db = client.app[LIVE_HUB], client.app[DATABASE]
    real_fetchrow = db.fetchrow
    blocked, release = asyncio.Event(), asyncio.Event()

    async def slow_head_in_the_hub(name, *args):
        if name == "live_head" and asyncio.current_task().get_name() == "live-hub" and not release.is_set():
            blocked.set()
            await release.wait()
        return await real_fetchrow(name, *args)

    monkeypatch.setattr(db, "fetchrow", slow_head_in_the_hub)
    await insert_events(conn, tenant, 1, order_id=1)  # wakes the hub, which nobody listens to
    async with asyncio.timeout(2):
        await blocked.wait()
    stream = await open_stream(client, tenant)
    async with asyncio.timeout(2):
        while hub.subscriptions[0].catching_up:
            await asyncio.sleep(0.005)
    await insert_events(conn, tenant, 1, order_id=2)  # after the stream's backlog read
    release.set()  # the hub's head query now sees it
    (message,) = await stream.events(1, within=3)
    assert message.json["orderId"] == 2
    stream.close()


async def test_head_answers_at_once_without_opening_a_stream(client, api):
    tenant = await api.tenant()
    response = await client.head(STREAM, headers=tenant.headers)
    assert response.status == 200 and response.headers["Content-Type"] == "text/event-stream"
    assert client.app[LIVE_HUB].subscriptions == []


async def test_a_resumed_stream_repeats_nothing_not_even_the_event_it_resumed_from(client, api):
    """The issue measured the id of order.created coming back first after a resume with it."""
    tenant = await api.tenant()
    stream = await open_stream(client, tenant)
    order = await api.draft(tenant)
    created = await stream.next_event(within=5.0)
    assert created.event == "order.created"
    stream.close()
    await api.call(tenant, "POST", f"/api/orders/{order['id']}/checkout")  # 422: no event
    await api.draft(tenant)
    for how in ({"headers": {"Last-Event-ID": created.id}}, {"query": f"?cursor={created.id}"}):
        response = await client.get(
            STREAM + how.get("query", ""), headers={**tenant.headers, **how.get("headers", {})}
        )
        resumed = Stream(response)
        blocks = [await resumed.next() for _ in range(2)]  # the opening, then the next event
        ids = [block.id for block in blocks if block.id is not None]
        assert created.id not in ids, blocks
        assert blocks[1].event == "order.created" and blocks[1].json["orderId"] != order["id"]
        assert await resumed.quiet(within=0.3)
        resumed.close()


async def test_open_streams_per_reseller_are_capped(api, settings, aiohttp_client, dsn):
    from service.app import create_app

    app = create_app(
        dataclasses.replace(settings, sse_max_streams_per_reseller=2, sse_max_streams_per_credential=5), dsn=dsn
    )
    capped = await aiohttp_client(app)
    tenant = await api.tenant()
    colleague = await api.colleague(tenant)
    streams = [await open_stream(capped, tenant), await open_stream(capped, colleague)]
    response = await capped.get(STREAM, headers=tenant.headers)
    assert response.status == 429
    body = await response.json()
    assert body["code"] == "too_many_streams" and int(response.headers["Retry-After"]) >= 1
    assert "reseller" in body["detail"]
    other = await api.tenant(name="Other Cloud")  # another reseller is not held back
    streams.append(await open_stream(capped, other))
    for stream in streams:
        stream.close()


async def test_a_hub_that_started_while_the_database_was_down_does_not_read_the_whole_table(
    client, api, conn, monkeypatch
):
    from service.live.hub import Hub

    tenant = await api.tenant()
    await insert_events(conn, tenant, 450)
    db = client.app[DATABASE]
    real_fetchrow, real_fetch = db.fetchrow, db.fetch

    async def down(name, *args):
        raise ConnectionRefusedError("the database is down")

    template = client.app[LIVE_HUB]
    hub = Hub(
        db=db,
        signer=template._signer,
        credentials=template._credentials,
        max_per_credential=5,
        max_per_reseller=5,
        queue_limit=2000,
        fallback_seconds=60,
        max_stream_seconds=60,
        keepalive_seconds=15,
        retry_after_seconds=2,
    )
    monkeypatch.setattr(db, "fetchrow", down)
    await hub.start()  # logs and goes on: the database is down
    monkeypatch.setattr(db, "fetchrow", real_fetchrow)
    head = await db.fetchrow("live_head")
    sub = hub.subscribe(
        reseller_id=tenant.reseller_id,
        client_id=tenant.client_id,
        token=tenant.token,
        after=(int(head["feed_xid"]), head["id"]),
        order_id=None,
        event_type=None,
    )
    read: list[int] = []

    async def counting(name, *args):
        rows = await real_fetch(name, *args)
        if name == "live_events_after":
            read.append(len(rows))
        return rows

    monkeypatch.setattr(db, "fetch", counting)
    await hub._advance()
    assert sum(read) == 0, f"the hub read {sum(read)} old events nobody wanted"
    await insert_events(conn, tenant, 1, order_id=99)
    await hub._advance()
    assert sum(read) == 1 and sub.take().count(b"event: ") == 1


def test_an_up_to_date_stream_is_not_offered_events_it_already_sent():
    from service.domain.events import Position
    from service.live.subscription import Subscription

    sub = Subscription(
        reseller_id=1, client_id="c", token="t", order_id=None, event_type=None,
        last=(100, 1000), queue_limit=500, deadline=float("inf"),
    )
    sub.catching_up = False
    aborted = []
    sub.abort = lambda: aborted.append(True)
    # The hub, behind the stream's own backlog read, offers 600 events the stream sent already.
    for n in range(600):
        position: Position = (100, 400 + n)
        sub.offer(position, b"old")
    assert sub.ended is None and not aborted, "an up-to-date stream was dropped"
    sub.offer((101, 1), b"new")
    assert sub.take() == b"new"


async def test_a_stream_the_hub_ends_is_closed_even_while_its_client_reads_nothing(
    api, settings, aiohttp_client, dsn, conn
):
    """Ended (here: its credential revoked) while its writer is blocked on a client that
    stopped reading: the server closes the connection, and the stream's place is freed."""
    from service.app import create_app

    app = create_app(dataclasses.replace(settings, sse_queue_size=100_000), dsn=dsn)
    served = await aiohttp_client(app)
    hub = app[LIVE_HUB]
    tenant = await api.tenant()
    spare = await api.colleague(tenant, ["orders:read"])
    reader, stalled = await stalled_client(served, spare.token)
    async with asyncio.timeout(2):
        while not hub.subscriptions:
            await asyncio.sleep(0.01)
    await insert_big_events(conn, tenant, 10)  # 8 MB
    await asyncio.sleep(0.5)  # the writer is now blocked on the full socket
    assert len(hub.subscriptions) == 1 and hub.subscriptions[0].ended is None
    await api.admin("DELETE", f"/admin/resellers/{tenant.reseller_id}/credentials/{spare.client_id}", expect=204)
    async with asyncio.timeout(8):
        while hub.subscriptions:
            await asyncio.sleep(0.05)
    # The connection is closed: reading what is left ends in EOF (or a reset).
    try:
        async with asyncio.timeout(5):
            while await reader.read(65536):
                pass
    except ConnectionError:
        pass
    stalled.close()
