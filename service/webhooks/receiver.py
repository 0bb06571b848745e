"""A webhook receiver: `python -m service webhook-receiver --secret whsec_...`.

It verifies each delivery's Standard Webhooks signature with the endpoint's
secret and prints every verified one as one JSON line on stdout:
`{"webhookId", "attempt", "event"}` (`attempt`: how many times this process
has seen that webhook-id). A bad or missing signature answers 400 and prints
nothing; with `--fail-first N` the first N attempts of each webhook-id answer
500, to watch the service retry. `serve --demo` runs one inside its process.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import signal
import sys
from collections.abc import Callable

from aiohttp import web

from service.webhooks import signing

logger = logging.getLogger(__name__)


@dataclasses.dataclass(kw_only=True)
class Receiver:
    key: bytes | None = None  # None: refuse everything until a secret is set
    fail_first: int = 0
    seen: dict[str, int] = dataclasses.field(default_factory=dict)
    show: Callable[[str], None] = print

    def use_secret(self, secret: str) -> None:
        self.key = signing.key_of(secret)


RECEIVER = web.AppKey("receiver", Receiver)


async def receive(request: web.Request) -> web.Response:
    receiver = request.app[RECEIVER]
    body = await request.read()
    if receiver.key is None:
        return web.json_response({"error": "no secret configured"}, status=503)
    try:
        message_id = signing.verify(receiver.key, request.headers, body)
        event = json.loads(body)
    except (signing.SignatureError, ValueError) as exc:
        logger.warning("webhook refused", extra={"reason": str(exc)})
        return web.json_response({"error": str(exc)}, status=400)
    attempt = receiver.seen[message_id] = receiver.seen.get(message_id, 0) + 1
    if attempt <= receiver.fail_first:
        return web.json_response({"error": f"failing attempt {attempt} on purpose"}, status=500)
    receiver.show(json.dumps({"webhookId": message_id, "attempt": attempt, "event": event}, sort_keys=True))
    return web.Response(status=204)


async def stats(request: web.Request) -> web.Response:
    return web.json_response({"received": dict(request.app[RECEIVER].seen)})


def create_app(
    *, secret: str | None = None, fail_first: int = 0, show: Callable[[str], None] | None = None
) -> web.Application:
    receiver = Receiver(fail_first=fail_first, show=show or _print)
    if secret:
        receiver.use_secret(secret)
    app = web.Application()
    app[RECEIVER] = receiver
    app.add_routes([web.get("/stats", stats), web.post("/{tail:.*}", receive)])
    return app


def _print(line: str) -> None:
    print(line, flush=True)


async def start(*, host: str = "127.0.0.1", port: int = 0, **options) -> tuple[web.AppRunner, str]:
    """A receiver listening on host:port (0: a free port), inside this process; and its URL."""
    runner = web.AppRunner(create_app(**options), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound_host, bound_port = runner.addresses[0][:2]
    return runner, f"http://{bound_host}:{bound_port}/webhooks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8099, help="port to listen on; 0 picks a free one")
    parser.add_argument("--secret", required=True, help="the webhook's secret, whsec_...")
    parser.add_argument(
        "--fail-first",
        type=int,
        default=0,
        metavar="N",
        help="answer 500 to the first N attempts of each event",
    )


async def serve(args: argparse.Namespace) -> None:
    runner, url = await start(host=args.host, port=args.port, secret=args.secret, fail_first=args.fail_first)
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # One line on stderr says where it listens; stdout carries only deliveries.
        print(json.dumps({"webhookReceiver": url}), file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
