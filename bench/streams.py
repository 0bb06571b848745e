"""Open event streams held during a scenario: `python -m bench.streams URL COUNT TOKEN...`.

A separate process, so its reading costs the harness nothing: it opens COUNT
streams of GET /api/events/stream (round robin over the tokens, since each
credential may hold only SSE_MAX_STREAMS_PER_CREDENTIAL of them), prints
`open <COUNT>` once all answered 200, then reads them until SIGTERM, and
prints `read <messages> <bytes>` as it stops."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys

import aiohttp

READY_WITHIN_SECONDS = 60
# Open event streams held on the service during get_order_streams, all of one reseller.
STREAMS = 200
# The service's default SSE_MAX_STREAMS_PER_CREDENTIAL.
PER_CREDENTIAL = 20


class Holder:
    """The holder process, started and stopped by the harness."""

    def __init__(self, url: str, count: int, tokens: list[str]) -> None:
        self.count = count
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.streams", url, str(count), *tokens],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        line = self.process.stdout.readline().strip()  # blocks until all are open, or it fails
        if line != f"open {count}":
            self.stop()
            raise RuntimeError(f"bench.streams could not open {count} streams: {line}")

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            output, _ = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        return output.strip()


async def _hold(url: str, count: int, tokens: list[str]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    read = {"chunks": 0, "bytes": 0}

    async def drain(response: aiohttp.ClientResponse) -> None:
        with contextlib.suppress(aiohttp.ClientError, asyncio.CancelledError):
            async for chunk in response.content.iter_any():
                read["chunks"] += 1
                read["bytes"] += len(chunk)

    timeout = aiohttp.ClientTimeout(total=None, sock_read=None, connect=10)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        async def one(number: int) -> aiohttp.ClientResponse:
            token = tokens[number % len(tokens)]
            while True:
                response = await session.get(
                    f"{url}/api/events/stream", headers={"Authorization": f"Bearer {token}"}
                )
                if response.status == 429:  # the streams of the previous run are not yet noticed closed
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                    response.release()
                    continue
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}: {(await response.text())[:300]}")
                return response

        try:
            async with asyncio.timeout(READY_WITHIN_SECONDS):
                responses = await asyncio.gather(*(one(n) for n in range(count)))
        except (RuntimeError, aiohttp.ClientError, TimeoutError) as exc:
            print(f"failed {exc}", flush=True)
            return
        readers = [asyncio.create_task(drain(response)) for response in responses]
        await asyncio.sleep(1.0)  # each stream's first backlog read is done before the load starts
        print(f"open {count}", flush=True)
        await stop.wait()
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for response in responses:
            response.close()
    print(f"read {read['chunks']} {read['bytes']}", flush=True)


if __name__ == "__main__":
    asyncio.run(_hold(sys.argv[1], int(sys.argv[2]), sys.argv[3:]))
