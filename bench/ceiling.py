"""The ceiling: the same requests answered by one query each, with no framework around it.
GET order and the list pages run the service's own statements (order_get, orders_page,
subscriptions_page) and answer the same fields, so the ratio measures what the service adds
around the same SQL. Each write step writes exactly the rows the service's writes (its
events included): create and checkout run the service's order_create and order_checkout,
add item one statement doing what product_get and item_add do.

No middleware, no schemas, no token verification (the bearer token is the
reseller id), no logging. What the service spends above this server is the
cost of everything it adds; the ratio service/ceiling is what the bench reports.

    python -m bench.ceiling --dsn postgresql://... --port 8090
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import signal
from decimal import Decimal

import asyncpg
from aiohttp import web

from bench import database
from service import db
from service.settings import Settings

POOL = web.AppKey("pool", asyncpg.Pool)
QUERIES = web.AppKey("queries", dict)
SERVICE_QUERIES = web.AppKey("service_queries", dict)
# Who the ceiling's writes name as their actor (the service: the token's clientId).
CLIENT_ID = "ceiling"
ITEM_DEADLINE_SECONDS = Settings.item_deadline_seconds
FAR_DATE = dt.date(9999, 12, 31)
FAR_ID = 2**63 - 1


def _plain(value):
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _json(body, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(body, default=_plain).encode(), status=status,
                        content_type="application/json")


def _order(row) -> dict:
    return {
        "id": row["id"], "accountId": row["account_id"], "accountName": row["account_name"],
        "status": row["status"], "orderDate": row["order_date"],
        "expirationDate": row["expiration_date"], "currency": row["currency"],
        "total": row["total"], "itemCount": row["item_count"], "notes": row["notes"],
        "createdAt": row["created_at"], "updatedAt": row["updated_at"],
        "checkedOutAt": row["checked_out_at"], "submittedBy": row["submitted_by"],
        "decidedBy": row["decided_by"], "cancellationReason": row["cancellation_reason"],
    }


def _reseller(request: web.Request) -> int:
    try:
        return int(request.headers["Authorization"].removeprefix("Bearer "))
    except (KeyError, ValueError):
        raise web.HTTPUnauthorized() from None


async def ready(request: web.Request) -> web.Response:
    version = await request.app[POOL].fetchval(request.app[QUERIES]["ceiling_ready"])
    return _json({"status": "ok", "migration": version})


async def get_order(request: web.Request) -> web.Response:
    # The service's own statement, so the two differ only in what the service adds around it.
    row = await request.app[POOL].fetchrow(
        request.app[SERVICE_QUERIES]["order_get"], int(request.match_info["id"]), _reseller(request)
    )
    if row is None:
        raise web.HTTPNotFound()
    return _json(_order(row))


async def list_orders(request: web.Request) -> web.Response:
    reseller = _reseller(request)
    size = int(request.query.get("pageSize", "50"))
    cursor = request.query.get("cursor")
    if cursor:
        day, _, last = cursor.partition("_")
        after = (dt.date.fromisoformat(day), int(last))
    else:
        after = (FAR_DATE, FAR_ID)
    rows = await request.app[POOL].fetch(
        request.app[SERVICE_QUERIES]["orders_page"], reseller, "all", None, None, None, *after, size
    )
    following = None
    if len(rows) == size:
        following = f"{rows[-1]['order_date'].isoformat()}_{rows[-1]['id']}"
    return _json({"items": [_order(r) for r in rows], "nextCursor": following})


def _subscription(row) -> dict:
    return {
        "id": row["id"], "accountId": row["account_id"], "accountName": row["account_name"],
        "productId": row["product_id"], "sku": row["sku"], "productName": row["product_name"],
        "quantity": row["quantity"], "billingCycle": row["billing_cycle"], "unitPrice": row["unit_price"],
        "currency": row["currency"], "status": row["status"], "externalId": row["external_id"],
        "orderId": row["order_id"], "itemId": row["item_id"], "createdAt": row["created_at"],
        "updatedAt": row["updated_at"], "cancelledAt": row["cancelled_at"],
    }


async def list_subscriptions(request: web.Request) -> web.Response:
    reseller = _reseller(request)
    size = int(request.query.get("pageSize", "50"))
    cursor = request.query.get("cursor")
    after = (None, None)
    if cursor:
        created, _, last = cursor.partition("_")
        after = (dt.datetime.fromisoformat(created), int(last))
    rows = await request.app[POOL].fetch(
        request.app[SERVICE_QUERIES]["subscriptions_page"], reseller, None, *after, size
    )
    following = None
    if len(rows) == size:
        following = f"{rows[-1]['created_at'].isoformat()}_{rows[-1]['id']}"
    return _json({"items": [_subscription(r) for r in rows], "nextCursor": following})


async def execution_status(request: web.Request) -> web.Response:
    row = await request.app[POOL].fetchrow(
        request.app[QUERIES]["ceiling_execution_status"], int(request.match_info["id"]),
        _reseller(request),
    )
    if row is None:
        raise web.HTTPNotFound()
    items = row["items"]
    counts = {s: 0 for s in ("Completed", "Failed", "In Progress", "Pending")}
    for item in items:
        counts[item["status"]] += 1
    return _json({
        "orderId": row["id"], "status": row["status"], "startedAt": row["started_at"],
        "completedAt": row["completed_at"], "updatedAt": row["updated_at"], "items": items,
        "progress": {"total": len(items), "completed": counts["Completed"], "failed": counts["Failed"],
                     "inProgress": counts["In Progress"], "pending": counts["Pending"]},
    })


async def create_order(request: web.Request) -> web.Response:
    reseller = _reseller(request)
    body = await request.json()
    row = await request.app[POOL].fetchrow(
        request.app[SERVICE_QUERIES]["order_create"], reseller, int(body["accountId"]),
        dt.datetime.now(dt.UTC).date(), body.get("notes"), CLIENT_ID,
    )
    if row is None:
        raise web.HTTPUnprocessableEntity()
    return _json(_order(row), status=201)


async def add_item(request: web.Request) -> web.Response:
    reseller = _reseller(request)
    body = await request.json()
    row = await request.app[POOL].fetchrow(
        request.app[QUERIES]["ceiling_add_item"], int(request.match_info["id"]), reseller,
        int(body["productId"]), body["billingCycle"], int(body["quantity"]), CLIENT_ID,
    )
    if row is None:
        raise web.HTTPConflict()
    return _json({
        "id": row["id"], "orderId": row["order_id"], "action": row["action"],
        "productId": row["product_id"], "sku": row["sku"], "productName": row["product_name"],
        "quantity": row["quantity"], "billingCycle": row["billing_cycle"], "unitPrice": row["unit_price"],
        "totalPrice": row["total_price"], "status": None, "subscriptionId": row["subscription_id"],
    }, status=201)


async def checkout(request: web.Request) -> web.Response:
    row = await request.app[POOL].fetchrow(
        request.app[SERVICE_QUERIES]["order_checkout"], int(request.match_info["id"]), _reseller(request),
        ITEM_DEADLINE_SECONDS, CLIENT_ID, False,  # checking for itself, as the service's checkout does
    )
    if row is None:
        raise web.HTTPConflict()
    return _json(_order(row), status=202)


def create_app(dsn: str, *, pool_size: int) -> web.Application:
    app = web.Application()
    app[QUERIES] = dict(database.bench_queries())
    app[SERVICE_QUERIES] = dict(db.load_queries(db.sql_dir() / "queries"))

    async def pool_ctx(app: web.Application):
        app[POOL] = await database.create_pool(dsn, max_size=pool_size)
        yield
        await app[POOL].close()

    app.cleanup_ctx.append(pool_ctx)
    app.router.add_get("/health/ready", ready)
    app.router.add_get("/api/orders", list_orders)
    app.router.add_post("/api/orders", create_order)
    app.router.add_get("/api/orders/{id}", get_order)
    app.router.add_post("/api/orders/{id}/items", add_item)
    app.router.add_post("/api/orders/{id}/checkout", checkout)
    app.router.add_get("/api/orders/{id}/execute/status", execution_status)
    app.router.add_get("/api/subscriptions", list_subscriptions)
    return app


async def serve(dsn: str, port: int, pool_size: int) -> None:
    runner = web.AppRunner(create_app(dsn, pool_size=pool_size), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--port", type=int, required=True)
    # The service's DB_POOL_MAX_SIZE default, so both sides get the same connections.
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--event-loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args()
    if args.event_loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(args.dsn, args.port, args.pool_size))
        return
    asyncio.run(serve(args.dsn, args.port, args.pool_size))


if __name__ == "__main__":
    main()
