"""What a run needs before its load: data loaded, tokens from the real API, the deep pages
each target reads, and the ids every target shares (python -m bench and bench.variants)."""

from __future__ import annotations

import logging

from bench import api, loader
from bench.scenarios import Fixtures, Target
from bench.streams import PER_CREDENTIAL, STREAMS

logger = logging.getLogger("bench")


async def load_to(conn, tenants, queries, total: int, loaded: int, data: dict) -> None:
    stats = await loader.load_orders(conn, tenants, total - loaded)
    vacuum = await loader.finish(conn, queries)
    data["loads"].append({
        "orders": stats.orders, "items": stats.items, "executions": stats.executions, "events": stats.events,
        "seconds": round(stats.seconds, 2), "rows_per_second": round(stats.rows_per_second),
        "vacuum_analyze_seconds": round(vacuum, 2),
    })
    logger.info("loaded %d orders, %d items, %d executions, %d events in %.1fs (%.0f rows/s)",
                stats.orders, stats.items, stats.executions, stats.events, stats.seconds,
                stats.rows_per_second)


async def service_tokens(session, service, conn, queries, admin_token: str, notes: list[str]):
    """Tokens of the large and the writer tenant through the real API, or None while it is missing."""
    tokens = []
    for reseller in (loader.LARGE_TENANT, loader.WRITER_TENANT):
        client_id, secret, how = await api.credentials(
            session, service.url, admin_token=admin_token, reseller_id=reseller, conn=conn, queries=queries
        )
        try:
            tokens.append(await api.token(session, service.url, client_id, secret))
        except api.ApiError as exc:
            notes.append(f"service scenarios needing a token were skipped: {exc}")
            return None
    notes.append(f"credentials: {how}; tokens: POST /oauth/token")
    return tokens


async def stream_tokens(session, service, conn, queries, admin_token: str) -> list[str]:
    """Tokens of enough credentials of the large tenant to hold STREAMS open streams."""
    tokens = []
    for _ in range(-(-STREAMS // PER_CREDENTIAL)):
        client_id, secret, _ = await api.credentials(
            session, service.url, admin_token=admin_token, reseller_id=loader.LARGE_TENANT,
            conn=conn, queries=queries,
        )
        tokens.append(await api.token(session, service.url, client_id, secret))
    return tokens


async def deep_paths(session, targets: list[Target], tenant_orders: int) -> int:
    depth = 0
    for target in targets:
        target.list_path, depth = await api.deep_list_path(
            session, target.server.url, token=target.read_token, skip=tenant_orders // 2
        )
    return depth


async def subscriptions(session, conn, tenants, queries, targets: list[Target], count: int, data: dict) -> None:
    """Load the subscriptions, then point each target's subscriptions page half way down the large tenant's."""
    seconds = await loader.load_subscriptions(conn, tenants, count)
    tenant_subscriptions = await conn.fetchval(queries["bench_subscriptions_count"], loader.LARGE_TENANT)
    logger.info("loaded %d subscriptions in %.1fs", count, seconds)
    depth = 0
    for target in targets:
        target.subscriptions_path, depth = await api.deep_list_path(
            session, target.server.url, token=target.read_token, skip=tenant_subscriptions // 2,
            list_path="/api/subscriptions",
        )
    data["subscriptions"] = {"loaded": count, "seconds": round(seconds, 2),
                             "tenant_subscriptions": tenant_subscriptions, "list_depth": depth}


def fixtures(tenants: loader.Tenants, ids: list[int]) -> Fixtures:
    return Fixtures(order_ids=ids or [1], writer_account_id=tenants.accounts[loader.WRITER_TENANT][1],
                    product_id=tenants.products[0].id)
