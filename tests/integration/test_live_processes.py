"""Live events across real `serve` processes: replicas, shutdown, and what 200 streams cost.

The fallback timer is a minute here, so what arrives within a second was pushed
by the database's notification to the listener of the process holding the stream."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path

import aiohttp

from tests.api import ADMIN_TOKEN, Api
from tests.process import free_port, service_env, start, wait_for_status
from tests.sse import Stream

STREAM = "/api/events/stream"


@contextlib.asynccontextmanager
async def replicas(dsn: str, count: int, **extra: str):
    """`count` serve processes on one database; yields their base URLs."""
    ports = [free_port() for _ in range(count)]
    processes = []
    for port in ports:
        env = service_env(
            DATABASE_URL=dsn,
            ADMIN_TOKEN=ADMIN_TOKEN,
            PORT=str(port),
            HOST="127.0.0.1",
            LOG_LEVEL="WARNING",
            SHUTDOWN_DRAIN_SECONDS="0",
            SSE_FALLBACK_POLL_SECONDS="60",
            **extra,
        )
        processes.append(start(["serve"], env=env))
    try:
        for port, process in zip(ports, processes):
            await asyncio.to_thread(
                wait_for_status, f"http://127.0.0.1:{port}/health/ready", 200, within=30, process=process
            )
        yield [f"http://127.0.0.1:{port}" for port in ports], processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                _, err = await asyncio.to_thread(process.communicate, timeout=20)
            finally:
                if process.poll() is None:
                    process.kill()
            assert '"level": "error"' not in err, err


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def open_stream(session: aiohttp.ClientSession, url: str, token: str) -> Stream:
    response = await session.get(url + STREAM, headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200, await response.text()
    stream = Stream(response)
    await stream.next()  # the opening id
    return stream


async def test_an_event_committed_through_one_replica_reaches_a_stream_on_another_within_1s(dsn):
    async with replicas(dsn, 2) as (urls, _):
        writer_url, reader_url = urls
        async with aiohttp.ClientSession(base_url=writer_url) as writer, aiohttp.ClientSession() as reader:
            api = Api(writer)
            tenant = await api.tenant()
            stream = await open_stream(reader, reader_url, tenant.token)
            latencies = []
            for _ in range(10):
                order = await api.draft(tenant)  # committed on the writer before it answers
                committed = time.monotonic()
                message = await stream.next_event(within=5.0)
                latencies.append(time.monotonic() - committed)
                assert message.json["orderId"] == order["id"]
            stream.close()
    print(f"replica-to-replica latency: max {max(latencies) * 1000:.1f} ms, "
          f"median {sorted(latencies)[5] * 1000:.1f} ms")
    assert max(latencies) < 1.0, latencies


async def test_sigterm_ends_open_streams_at_once_and_the_process_exits_cleanly(dsn):
    async with replicas(dsn, 1, SHUTDOWN_TIMEOUT_SECONDS="20") as (urls, processes):
        async with aiohttp.ClientSession(base_url=urls[0]) as session:
            tenant = await Api(session).tenant()
            streams = [await open_stream(session, urls[0], tenant.token) for _ in range(3)]
            signalled = time.monotonic()
            processes[0].send_signal(signal.SIGTERM)
            for stream in streams:
                assert await stream.ended(within=5.0)
            await asyncio.to_thread(processes[0].wait, timeout=10)
            stopped = time.monotonic() - signalled
    assert processes[0].returncode == 0
    assert stopped < 5.0, f"the shutdown waited {stopped:.1f}s for the streams"


async def test_200_open_streams_cost_less_than_50_mb(dsn):
    async with replicas(
        dsn, 1, SSE_MAX_STREAMS_PER_CREDENTIAL="200", SSE_MAX_STREAMS_PER_RESELLER="200"
    ) as (urls, processes):
        pid = processes[0].pid
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(base_url=urls[0], connector=connector) as session:
            api = Api(session)
            tenant = await api.tenant()
            # Warm up what any first requests allocate, a stream included.
            for _ in range(20):
                await api.draft(tenant)
            (await open_stream(session, urls[0], tenant.token)).close()
            await asyncio.sleep(1.5)  # until the server has noticed that client left
            before = rss_mb(pid)
            streams = await asyncio.gather(*(open_stream(session, urls[0], tenant.token) for _ in range(200)))
            for _ in range(5):
                await api.draft(tenant)
            for stream in streams:
                assert len(await stream.events(5, within=10)) == 5
            after = rss_mb(pid)
            for stream in streams:
                stream.close()
    print(f"RSS of one serve process: {before:.1f} MB before, {after:.1f} MB with 200 open streams "
          f"(+{after - before:.1f} MB)")
    assert after - before < 50, (before, after)
