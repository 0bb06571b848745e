"""A reference fulfillment connector: `python -m service connector-sim`.

It speaks the contract's protocol honestly, so the service can be run and
tested end to end without a real provider: a POST with an Idempotency-Key it
has seen before answers the same operationId and provisions nothing new. An
operation completes `delay` seconds after it was accepted, and fails with
probability `failure_rate`, drawn from a generator seeded by `seed` so runs
can be repeated. GET /stats tells how often each key was submitted and how
many operations were provisioned, so tests can assert exactly-once.

It keeps the subscriptions it provisioned (GET /subscriptions): a purchase
(`"action": "purchase"`, or no action, as before v3.2) becomes `sim-sub-<itemId>`
when it completes; a change (`"changeQuantity"`, `"cancel"`, with the
`"subscriptionId"` it changes) completes by setting its quantity or cancelling
it. A change of a subscription it has cancelled is refused (409, so the item
fails); one it has never seen is taken as given, since it keeps nothing
across restarts and the service may know subscriptions from before.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import random
import signal
import time

from aiohttp import web

logger = logging.getLogger(__name__)

_REQUIRED = {
    "orderId": int,
    "itemId": int,
    "accountId": int,
    "sku": str,
    "quantity": int,
    "billingCycle": str,
    "characteristics": dict,
}


ACTIONS = ("purchase", "changeQuantity", "cancel")


@dataclasses.dataclass(kw_only=True)
class Operation:
    operation_id: str
    item_id: int
    accepted_at: float
    fails: bool
    action: str = "purchase"
    subscription_id: str | None = None  # what it provisions, or the subscription it changes
    quantity: int = 0
    applied: bool = False


@dataclasses.dataclass(kw_only=True)
class Simulator:
    delay: float = 0.0
    latency: float = 0.0
    failure_rate: float = 0.0
    seed: int | None = None
    submissions: dict[str, int] = dataclasses.field(default_factory=dict)
    operations: dict[str, Operation] = dataclasses.field(default_factory=dict)
    by_key: dict[str, str] = dataclasses.field(default_factory=dict)
    # subscriptionId -> {"quantity", "status"}: what completed operations left.
    subscriptions: dict[str, dict] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def submit(
        self, key: str, item_id: int, *, action: str = "purchase", subscription_id: str | None = None,
        quantity: int = 0,
    ) -> Operation:
        self.submissions[key] = self.submissions.get(key, 0) + 1
        known = self.by_key.get(key)
        if known is not None:
            return self.operations[known]
        operation = Operation(
            operation_id=f"op-{len(self.operations) + 1}-{self._rng.getrandbits(32):08x}",
            item_id=item_id,
            accepted_at=time.monotonic(),
            fails=self._rng.random() < self.failure_rate,
            action=action,
            subscription_id=subscription_id if action != "purchase" else f"sim-sub-{item_id}",
            quantity=quantity,
        )
        self.operations[operation.operation_id] = operation
        self.by_key[key] = operation.operation_id
        logger.info(
            "provisioning accepted", extra={"idempotency_key": key, "operation_id": operation.operation_id}
        )
        return operation

    def progress(self, operation: Operation) -> dict:
        if time.monotonic() - operation.accepted_at < self.delay:
            return {"status": "In Progress", "message": "provisioning"}
        if operation.fails:
            return {"status": "Failed", "message": f"the provider declined item {operation.item_id}"}
        if not operation.applied:
            operation.applied = True
            current = self.subscriptions.setdefault(
                operation.subscription_id, {"quantity": operation.quantity, "status": "Active"}
            )
            if operation.action == "cancel":
                current.update(quantity=0, status="Cancelled")
            else:
                current["quantity"] = operation.quantity
        return {"status": "Completed", "subscriptionId": operation.subscription_id}

    def refusal(self, action: str, subscription_id: str | None) -> str | None:
        """Why a change cannot be accepted, or None."""
        if action == "purchase":
            return None
        if not subscription_id:
            return f"a {action} needs the subscriptionId it changes"
        if self.subscriptions.get(subscription_id, {}).get("status") == "Cancelled":
            return f"subscription {subscription_id} is cancelled"
        return None


SIMULATOR = web.AppKey("simulator", Simulator)


def _problem(status: int, detail: str) -> web.Response:
    return web.json_response({"status": status, "detail": detail}, status=status)


async def submit(request: web.Request) -> web.Response:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return _problem(400, "the Idempotency-Key header is required")
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return _problem(400, "the body is not JSON")
    if not isinstance(body, dict):
        return _problem(400, "the body must be a JSON object")
    for field, kind in _REQUIRED.items():
        if not isinstance(body.get(field), kind) or isinstance(body.get(field), bool):
            return _problem(400, f"{field} is missing or not a {kind.__name__}")
    action = body.get("action", "purchase")
    if action not in ACTIONS:
        return _problem(400, f"action must be one of {', '.join(ACTIONS)}")
    subscription_id = body.get("subscriptionId")
    if subscription_id is not None and not isinstance(subscription_id, str):
        return _problem(400, "subscriptionId must be a string")
    simulator = request.app[SIMULATOR]
    if key not in simulator.by_key:
        refusal = simulator.refusal(action, subscription_id)
        if refusal is not None:
            return _problem(409 if subscription_id else 400, refusal)
    operation = simulator.submit(
        key, body["itemId"], action=action, subscription_id=subscription_id, quantity=body["quantity"]
    )
    # Accepted before answering, as a real provider would: a client that dies
    # while waiting must find its submission on the retry under the same key.
    await asyncio.sleep(simulator.latency)
    return web.json_response({"operationId": operation.operation_id}, status=202)


async def progress(request: web.Request) -> web.Response:
    simulator = request.app[SIMULATOR]
    operation = simulator.operations.get(request.match_info["operation_id"])
    if operation is None:
        return _problem(404, "unknown operation")
    await asyncio.sleep(simulator.latency)
    return web.json_response(simulator.progress(operation))


async def subscriptions(request: web.Request) -> web.Response:
    return web.json_response(request.app[SIMULATOR].subscriptions)


async def stats(request: web.Request) -> web.Response:
    simulator = request.app[SIMULATOR]
    return web.json_response(
        {"submissions": dict(simulator.submissions), "provisioned": len(simulator.operations)}
    )


def create_app(
    *, delay: float = 0.0, latency: float = 0.0, failure_rate: float = 0.0, seed: int | None = None
) -> web.Application:
    app = web.Application()
    app[SIMULATOR] = Simulator(delay=delay, latency=latency, failure_rate=failure_rate, seed=seed)
    app.add_routes(
        [
            web.post("/provisioning", submit),
            web.get("/provisioning/{operation_id}", progress),
            web.get("/stats", stats),
            web.get("/subscriptions", subscriptions),
        ]
    )
    return app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8090, help="port to listen on; 0 picks a free one (default 8090)"
    )
    parser.add_argument("--delay", type=float, default=1.0, help="seconds until an operation completes")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before answering each call")
    parser.add_argument(
        "--failure-rate", type=_rate, default=0.0, help="share of operations that fail, 0..1 (default 0)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for repeatable failures and ids")


def _rate(raw: str) -> float:
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {raw}")
    return value


async def serve(args: argparse.Namespace) -> None:
    app = create_app(delay=args.delay, latency=args.latency, failure_rate=args.failure_rate, seed=args.seed)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, args.host, args.port).start()
        host, port = runner.addresses[0][:2]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # One line on stdout so scripts and tests know where it listens.
        print(json.dumps({"connectorSim": f"http://{host}:{port}"}), flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
