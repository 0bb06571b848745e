"""Upgrading a v3.1 database (migrated to 0009) that holds executed orders: migration 0012
creates the subscriptions of the purchase items already Completed."""

from __future__ import annotations

import dataclasses
import datetime
import json

import asyncpg

from service import db
from service.app import create_app
from tests.api import Api
from tests.conftest import V31, migrate_to
from tests.subscription_support import change_order, checked_out, executed, subscription


@dataclasses.dataclass
class Before:
    """What a v3.1 deployment held: ids of its rows."""

    reseller: int
    customer: int
    instant: int
    remote: int
    completed_items: dict[int, str]  # item -> the connector's subscription id its execution kept
    completed_order: int
    partial_order: int
    failed_item: int
    running_order: int
    running_item: int
    draft: int


async def _v31_rows(dsn: str) -> Before:
    """Rows as v3.1 wrote them (its statements' columns, no subscription anywhere)."""
    conn = await asyncpg.connect(dsn, **db.connect_kwargs())
    try:
        reseller = await conn.fetchval(
            "INSERT INTO resellers (name, edition) VALUES ('Old Cloud', 'Standard') RETURNING id"
        )
        await conn.execute("INSERT INTO accounts (reseller_id, name, type) VALUES ($1, 'Old Cloud', 'Reseller')", reseller)
        customer = await conn.fetchval(
            "INSERT INTO accounts (reseller_id, name, type) VALUES ($1, 'Old Customer', 'Customer') RETURNING id",
            reseller,
        )

        async def product(sku: str, fulfillment: dict) -> int:
            return await conn.fetchval(
                """INSERT INTO products (sku, name, billing_cycles, unit_prices, currency, fulfillment)
                   VALUES ($1, $1, '{Monthly}', '{"Monthly": "7.50"}', 'EUR', $2::jsonb) RETURNING id""",
                sku,
                json.dumps(fulfillment),
            )

        instant = await product("OLD-MAIL", {"type": "instant"})
        remote = await product("OLD-VM", {"type": "http", "url": "http://127.0.0.1:9/unused"})
        day = datetime.date.today() - datetime.timedelta(days=40)

        async def order(status: str, lines: list[tuple[int, int, str | None, str | None]], hours: int) -> tuple[int, list[int]]:
            """lines: (product, quantity, execution status or None, connector subscription id)."""
            finished = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=hours)
            draft = status == "Draft"
            order_id = await conn.fetchval(
                """INSERT INTO orders (reseller_id, account_id, status, order_date, expiration_date, currency,
                                       total, item_count, checked_out_at, started_at, completed_at, submitted_by)
                   VALUES ($1, $2, $3, $4, $5, 'EUR', 0, $6, $7, $7, $8, $9) RETURNING id""",
                reseller, customer, status, day if not draft else datetime.date.today(),
                datetime.date.today() + datetime.timedelta(days=7) if draft else None, len(lines),
                None if draft else finished, finished if status in ("Completed", "Partially Completed") else None,
                None if draft else "ro_old",
            )
            items = []
            for product_id, quantity, state, external in lines:
                item = await conn.fetchval(
                    """INSERT INTO order_items (order_id, reseller_id, product_id, sku, product_name, quantity,
                                                billing_cycle, unit_price, total_price, currency)
                       SELECT $1, $2, id, sku, name, $3::integer, 'Monthly', 7.50, 7.50 * $3::integer, 'EUR' FROM products
                       WHERE id = $4 RETURNING id""",
                    order_id, reseller, quantity, product_id,
                )
                items.append(item)
                if state is not None:
                    await conn.execute(
                        """INSERT INTO executions (item_id, order_id, reseller_id, status, subscription_id,
                                                   message, operation_id, attempts, next_attempt_at,
                                                   deadline_at, started_at, completed_at, updated_at)
                           VALUES ($1, $2, $3, $4::text, $5, $6, $7, 1, $8::timestamptz,
                                   $8::timestamptz + interval '1 hour', $8::timestamptz,
                                   CASE WHEN $4::text IN ('Completed', 'Failed') THEN $8::timestamptz END,
                                   $8::timestamptz)""",
                        item, order_id, reseller, state, external,
                        "declined" if state == "Failed" else None, f"op-{item}",
                        finished if state != "Pending" else datetime.datetime.now(datetime.UTC),
                    )
            return order_id, items

        completed_order, (a, b) = await order(
            "Completed", [(instant, 3, "Completed", None), (remote, 1, "Completed", "vm-77")], hours=30
        )
        partial_order, (c, failed) = await order(
            "Partially Completed", [(instant, 2, "Completed", None), (remote, 1, "Failed", None)], hours=20
        )
        await conn.execute(
            "UPDATE executions SET subscription_id = 'sub-' || item_id WHERE subscription_id IS NULL"
            " AND status = 'Completed'"
        )
        await order("Failed", [(remote, 1, "Failed", None)], hours=10)
        running_order, (running,) = await order("Pending", [(instant, 4, "Pending", None)], hours=1)
        await order("Reseller Pending Approval", [(instant, 1, None, None)], hours=1)
        draft, _ = await order("Draft", [(instant, 1, None, None)], hours=1)
        return Before(
            reseller=reseller, customer=customer, instant=instant, remote=remote,
            completed_items={a: f"sub-{a}", b: "vm-77", c: f"sub-{c}"},
            completed_order=completed_order, partial_order=partial_order, failed_item=failed,
            running_order=running_order, running_item=running, draft=draft,
        )
    finally:
        await conn.close()


async def test_the_upgrade_creates_the_subscriptions_of_completed_purchases(v31_dsn, settings, aiohttp_client):
    before = await _v31_rows(v31_dsn)
    applied = await migrate_to(v31_dsn)
    assert applied and min(applied) > V31 and max(applied) >= 12

    app = create_app(dataclasses.replace(settings, database_url=v31_dsn), dsn=v31_dsn)
    api = Api(await aiohttp_client(app))
    creds = await api.admin("POST", f"/admin/resellers/{before.reseller}/credentials", expect=201)
    token = await api.token(creds["clientId"], creds["clientSecret"])
    tenant = type("Old", (), {"headers": {"Authorization": f"Bearer {token}"}})()

    status, page = await api.call(tenant, "GET", "/api/subscriptions")
    assert status == 200
    found = page["items"]
    # One per purchase item that was Completed, in the order they completed (newest first),
    # the connector's id kept as externalId; nothing for the failed, running or unchecked ones.
    assert [s["itemId"] for s in found] == sorted(before.completed_items, reverse=True)
    assert {s["itemId"]: s["externalId"] for s in found} == before.completed_items
    assert all(s["status"] == "Active" and s["accountId"] == before.customer for s in found)
    assert {s["itemId"]: (s["quantity"], s["unitPrice"], s["currency"]) for s in found} == {
        item: (q, "7.50", "EUR") for item, q in zip(sorted(before.completed_items), (3, 1, 2), strict=True)
    }
    for order_id in (before.completed_order, before.partial_order):
        status, progress = await api.call(tenant, "GET", f"/api/orders/{order_id}/execute/status")
        status, items = await api.call(tenant, "GET", f"/api/orders/{order_id}/items")
        for entry, item in zip(progress["items"], items["items"], strict=True):
            assert entry["itemId"] == item["id"] and item["action"] == "purchase"
            if item["id"] in before.completed_items:
                (mine,) = [s for s in found if s["itemId"] == item["id"]]
                assert entry["subscriptionId"] == item["subscriptionId"] == str(mine["id"])
                assert mine["orderId"] == order_id
            else:
                assert item["id"] == before.failed_item
                assert entry["subscriptionId"] is item["subscriptionId"] is None
    # No events were written for them: nothing happened at the upgrade.
    status, feed = await api.call(tenant, "GET", "/api/events")
    assert feed["items"] == []

    # An order that was executing at the upgrade completes with its subscription ...
    assert (await executed(api, tenant, before.running_order))["status"] == "Completed"
    status, items = await api.call(tenant, "GET", f"/api/orders/{before.running_order}/items")
    created = await subscription(api, tenant, items["items"][0]["subscriptionId"])
    assert (created["itemId"], created["externalId"]) == (before.running_item, f"sub-{before.running_item}")
    assert created["id"] > max(s["id"] for s in found)
    # ... and a migrated subscription changes like any other.
    oldest = found[-1]
    order, _ = await change_order(api, tenant, oldest, "changeQuantity", quantity=30)
    await checked_out(api, tenant, order["id"])
    assert (await executed(api, tenant, order["id"]))["status"] == "Completed"
    assert (await subscription(api, tenant, oldest["id"]))["quantity"] == 30
