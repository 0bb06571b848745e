"""Bulk data through COPY (asyncpg copy_records_to_table), not through the API.

Ids are written explicitly (COPY may fill identity columns), so orders, their
items and their execution records are generated together in one pass and the
read scenarios can pick ids without asking the database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import time
from collections.abc import Mapping
from decimal import Decimal

import asyncpg

from bench.database import bench_queries

UTC = dt.timezone.utc
LARGE_TENANT = 1  # the tenant the read and list scenarios use
WRITER_TENANT = 2  # the tenant the write flow uses, so reads see a stable tenant
LARGE_TENANT_SHARE = 0.10
CHUNK = 50_000
MAX_ITEMS_PER_ORDER = 4

# Status mix of the loaded orders: mostly done, some in flight, some drafts.
STATUS_MIX = {
    "Draft": 0.15,
    "Reseller Pending Approval": 0.03,
    "Cancelled by Reseller": 0.07,
    "Pending": 0.02,
    "In Progress": 0.03,
    "Completed": 0.58,
    "Partially Completed": 0.04,
    "Failed": 0.08,
}
UNCONFIRMED = {"Draft", "Reseller Pending Approval", "Cancelled by Reseller"}
CYCLES = ("Monthly", "Annual")

ORDER_COLUMNS = (
    "id", "reseller_id", "account_id", "status", "order_date", "expiration_date", "currency",
    "total", "item_count", "notes", "created_at", "updated_at", "checked_out_at", "started_at",
    "completed_at",
)
ITEM_COLUMNS = (
    "id", "order_id", "reseller_id", "product_id", "sku", "product_name", "quantity",
    "billing_cycle", "unit_price", "total_price", "currency", "created_at",
)
EVENT_COLUMNS = (
    "reseller_id", "order_id", "account_id", "type", "actor_type", "actor_client_id", "data", "occurred_at",
)
SUBSCRIPTION_COLUMNS = (
    "id", "reseller_id", "account_id", "product_id", "sku", "product_name", "quantity", "billing_cycle",
    "unit_price", "currency", "status", "external_id", "order_id", "item_id", "created_at", "updated_at",
    "cancelled_at",
)
# The purchase items loaded subscriptions name are not loaded (reads never join them): their
# ids are taken far above any item's, so item_id stays unique beside the service's own.
SUBSCRIPTION_ITEM_BASE = 10**12
CANCELLED_SHARE = 0.08
EXECUTION_COLUMNS = (
    "item_id", "order_id", "reseller_id", "status", "message", "subscription_id", "operation_id", "attempts",
    "next_attempt_at", "deadline_at", "started_at", "completed_at", "created_at", "updated_at",
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Product:
    id: int
    sku: str
    name: str
    prices: Mapping[str, Decimal]


@dataclasses.dataclass(kw_only=True)
class Tenants:
    accounts: dict[int, list[int]]  # reseller id -> its own account first, then customers
    products: list[Product]
    weights: list[float]  # cumulative, over the resellers in `accounts` order
    next_order_id: int = 1
    next_item_id: int = 1


@dataclasses.dataclass(kw_only=True)
class LoadStats:
    orders: int = 0
    items: int = 0
    executions: int = 0
    events: int = 0
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return self.orders + self.items + self.executions + self.events

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


async def connect(dsn: str) -> asyncpg.Connection:
    """A connection for COPY: binary COPY needs a binary jsonb codec (version byte + text)."""
    conn = await asyncpg.connect(dsn)
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", format="binary",
        encoder=lambda text: b"\x01" + text.encode(), decoder=lambda data: data[1:].decode(),
    )
    return conn


async def _fast_session(conn: asyncpg.Connection) -> None:
    # The loader writes consistent ids itself: skip the per-row foreign-key
    # triggers (superuser-only setting; the embedded server runs as postgres)
    # and the WAL flush per commit.
    await conn.execute("SET session_replication_role = replica")
    await conn.execute("SET synchronous_commit = off")


async def load_tenants(conn: asyncpg.Connection, *, resellers: int, seed: int = 6) -> Tenants:
    """Products, resellers (one large, a tenth on the Free edition) and their accounts."""
    rng = random.Random(seed)
    await _fast_session(conn)
    now = dt.datetime.now(UTC)
    products = []
    for pid in range(1, 21):
        monthly = Decimal(rng.randrange(100, 10_000)) / 100
        products.append(Product(
            id=pid, sku=f"SKU-{pid:04d}", name=f"Cloud product {pid}",
            prices={"Monthly": monthly, "Annual": monthly * 10},
        ))
    await conn.copy_records_to_table(
        "products",
        records=[
            (p.id, p.sku, p.name, list(CYCLES), json.dumps({c: str(v) for c, v in p.prices.items()}),
             "USD", json.dumps([{"name": "domain", "label": "Domain", "type": "text",
                                 "required": False, "options": []}]),
             json.dumps({"type": "instant"}), now)
            for p in products
        ],
        columns=("id", "sku", "name", "billing_cycles", "unit_prices", "currency",
                 "characteristics", "fulfillment", "created_at"),
    )
    reseller_rows, account_rows, accounts = [], [], {}
    account_id = 0
    for rid in range(1, resellers + 1):
        free = rid > WRITER_TENANT and rid % 10 == 0
        reseller_rows.append((rid, f"Reseller {rid}", "Free" if free else "Standard", now, now))
        customers = 200 if rid == LARGE_TENANT else rng.randint(1, 20)
        own = []
        for n in range(customers + 1):
            account_id += 1
            kind = "Reseller" if n == 0 else "Customer"
            name = f"Reseller {rid}" if n == 0 else f"Customer {rid}-{n}"
            account_rows.append((account_id, rid, name, kind, now))
            own.append(account_id)
        accounts[rid] = own
    await conn.copy_records_to_table(
        "resellers", records=reseller_rows, columns=("id", "name", "edition", "created_at", "updated_at")
    )
    await conn.copy_records_to_table(
        "accounts", records=account_rows, columns=("id", "reseller_id", "name", "type", "created_at")
    )
    # The large tenant holds a fixed share; the rest follow a long tail, as
    # real reseller sizes do.
    tail = [1.0 / (rank ** 0.8) for rank in range(1, resellers)]
    scale = (1.0 - LARGE_TENANT_SHARE) / sum(tail)
    cumulative, total = [], 0.0
    for weight in [LARGE_TENANT_SHARE, *(w * scale for w in tail)]:
        total += weight
        cumulative.append(total)
    return Tenants(accounts=accounts, products=products, weights=cumulative)


async def load_orders(
    conn: asyncpg.Connection, tenants: Tenants, count: int, *, expired_drafts: bool = False, seed: int = 7
) -> LoadStats:
    """COPY `count` more orders with items and execution records, in chunks."""
    queries = bench_queries()
    # The API may have inserted rows since the last load (the write flow), and may still be.
    current = await conn.fetchrow(queries["loader_reserve_ids"], count, count * MAX_ITEMS_PER_ORDER)
    tenants.next_order_id = current["orders"] + 1
    tenants.next_item_id = current["items"] + 1
    rng = random.Random(seed + tenants.next_order_id)
    await _fast_session(conn)
    stats = LoadStats()
    started = time.perf_counter()
    left = count
    while left:
        n = min(CHUNK, left)
        orders, items, executions, events = _generate(tenants, n, rng, expired_drafts=expired_drafts)
        await conn.copy_records_to_table("orders", records=orders, columns=ORDER_COLUMNS)
        await conn.copy_records_to_table("order_items", records=items, columns=ITEM_COLUMNS)
        if executions:
            await conn.copy_records_to_table("executions", records=executions, columns=EXECUTION_COLUMNS)
        # Events take their ids and feed positions (xid) from the table's defaults.
        await conn.copy_records_to_table("order_events", records=events, columns=EVENT_COLUMNS)
        stats.orders += len(orders)
        stats.items += len(items)
        stats.executions += len(executions)
        stats.events += len(events)
        left -= n
    await conn.execute(queries["loader_reset_identities"])
    stats.seconds = time.perf_counter() - started
    return stats


async def load_subscriptions(conn: asyncpg.Connection, tenants: Tenants, count: int, *, seed: int = 8) -> float:
    """COPY `count` subscriptions over the tenants as their orders are (the large tenant a
    tenth), created over two years, some cancelled; then VACUUM ANALYZE them. Seconds taken."""
    queries = bench_queries()
    first = await conn.fetchval(queries["loader_reserve_subscriptions"], count) + 1
    rng = random.Random(seed)
    await _fast_session(conn)
    now = dt.datetime.now(UTC)
    started = time.perf_counter()
    for start in range(first, first + count, CHUNK):
        n = min(CHUNK, first + count - start)
        reseller_ids = rng.choices(list(tenants.accounts), cum_weights=tenants.weights, k=n)
        rows = []
        for sid, rid in zip(range(start, start + n), reseller_ids, strict=True):
            accounts = tenants.accounts[rid]
            product = tenants.products[rng.randrange(len(tenants.products))]
            cycle = CYCLES[rng.randrange(2)]
            created = now - dt.timedelta(seconds=rng.randrange(730 * 86_400))
            ended = created + dt.timedelta(days=rng.randint(1, 90)) if rng.random() < CANCELLED_SHARE else None
            rows.append((
                sid, rid, accounts[rng.randrange(len(accounts))], product.id, product.sku, product.name,
                rng.randint(1, 50), cycle, product.prices[cycle], "USD",
                "Cancelled" if ended else "Active", f"ext-{sid}", SUBSCRIPTION_ITEM_BASE + sid,
                SUBSCRIPTION_ITEM_BASE + sid, created, ended or created, ended,
            ))
        await conn.copy_records_to_table("subscriptions", records=rows, columns=SUBSCRIPTION_COLUMNS)
    await conn.execute("VACUUM (ANALYZE) subscriptions")
    return time.perf_counter() - started


async def finish(conn: asyncpg.Connection, queries: Mapping[str, str]) -> float:
    """Identities past the loaded ids, then VACUUM ANALYZE so autovacuum does not wake mid-run."""
    started = time.perf_counter()
    await conn.execute(queries["loader_reset_identities"])
    for table in ("resellers", "accounts", "products", "orders", "order_items", "executions", "order_events"):
        # Table names are constants of this module.
        await conn.execute(f"VACUUM (ANALYZE) {table}")
    return time.perf_counter() - started


def _generate(tenants: Tenants, n: int, rng: random.Random, *, expired_drafts: bool):
    today = dt.datetime.now(UTC).date()
    now = dt.datetime.now(UTC)
    midnight = dt.datetime(today.year, today.month, today.day, tzinfo=UTC)
    later = now + dt.timedelta(days=1)
    statuses = (["Draft"] * n if expired_drafts else
                rng.choices(list(STATUS_MIX), weights=list(STATUS_MIX.values()), k=n))
    reseller_ids = rng.choices(list(tenants.accounts), cum_weights=tenants.weights, k=n)
    products = tenants.products
    orders, items, executions, events = [], [], [], []
    for status, rid in zip(statuses, reseller_ids):
        oid = tenants.next_order_id
        tenants.next_order_id += 1
        accounts = tenants.accounts[rid]
        account = accounts[rng.randrange(len(accounts))]
        if status == "Draft":
            age = rng.randint(8, 60) if expired_drafts else rng.randint(0, 6)
            item_count = rng.randint(0, 3)
        else:
            age = rng.randint(1, 730)
            item_count = rng.randint(1, MAX_ITEMS_PER_ORDER)
        order_date = today - dt.timedelta(days=age)
        created = midnight - dt.timedelta(days=age) + dt.timedelta(seconds=rng.randrange(86_400))
        confirmed = status not in UNCONFIRMED
        checked_out = created + dt.timedelta(hours=1) if confirmed else None
        in_flight = status in ("Pending", "In Progress")
        finished = checked_out + dt.timedelta(minutes=3) if confirmed and not in_flight else None
        total = Decimal(0)
        first_item = tenants.next_item_id
        for position in range(item_count):
            product = products[rng.randrange(len(products))]
            cycle = CYCLES[rng.randrange(2)]
            quantity = rng.randint(1, 10)
            price = product.prices[cycle]
            line = price * quantity
            total += line
            iid = tenants.next_item_id
            tenants.next_item_id += 1
            items.append((iid, oid, rid, product.id, product.sku, product.name, quantity, cycle,
                          price, line, "USD", created))
            if confirmed:
                executions.append(_execution(status, position, iid, oid, rid, checked_out, finished, later))
        orders.append((
            oid, rid, account, status, order_date,
            order_date + dt.timedelta(days=7) if status == "Draft" else None,
            "USD" if item_count else None, total, item_count, None, created,
            finished or checked_out or created, checked_out, checked_out, finished,
        ))
        events.extend(_events(status, rid, oid, account, range(first_item, tenants.next_item_id),
                              created, checked_out, finished))
    return orders, items, executions, events


def _events(status, rid, oid, account, item_ids, created, checked_out, finished):
    """The trail the service would have written for an order in this status (close enough in
    count and shape for the feed's and the writes' costs; timestamps are approximate)."""
    head = (rid, oid, account)
    trail = [(*head, "order.created", "client", "ro_bench", "{}", created)]
    trail += [(*head, "order.item_added", "client", "ro_bench", f'{{"itemId": {i}}}', created) for i in item_ids]
    if status == "Draft":
        return trail
    waits = status in UNCONFIRMED
    checked_out = checked_out or created + dt.timedelta(hours=1)
    target = "Reseller Pending Approval" if waits else "Pending"
    trail.append((*head, "order.checked_out", "client", "ro_bench", "{}", checked_out))
    trail.append((*head, "order.status_changed", "client", "ro_bench",
                  f'{{"from": "Draft", "to": "{target}"}}', checked_out))
    if waits:
        trail.append((*head, "order.approval_requested", "client", "ro_bench", "{}", checked_out))
        if status == "Cancelled by Reseller":
            trail.append((*head, "order.cancelled", "client", "ro_boss", '{"reason": null}', checked_out))
        return trail
    if finished is not None:
        trail.append((*head, "order.status_changed", "system", None,
                      '{"from": "Pending", "to": "In Progress"}', checked_out))
        trail += [(*head, "item.status_changed", "system", None,
                   f'{{"itemId": {i}, "from": "In Progress", "to": "Completed"}}', finished) for i in item_ids]
        trail.append((*head, "order.status_changed", "system", None,
                      f'{{"from": "In Progress", "to": "{status}"}}', finished))
    return trail


def _execution(status, position, iid, oid, rid, checked_out, finished, later):
    if status == "Completed" or (status == "Partially Completed" and position == 0):
        return (iid, oid, rid, "Completed", None, f"sub-{iid}", f"op-{iid}", 1, checked_out,
                checked_out + dt.timedelta(minutes=15), checked_out, finished, checked_out, finished)
    if status in ("Failed", "Partially Completed"):
        return (iid, oid, rid, "Failed", "The connector rejected the request", None, f"op-{iid}", 1,
                checked_out, checked_out + dt.timedelta(minutes=15), checked_out, finished,
                checked_out, finished)
    # In flight: due only tomorrow, so the service's poll job leaves the loaded
    # rows alone and works only for orders checked out during the run.
    running = status == "In Progress" and position == 0
    return (iid, oid, rid, "In Progress" if running else "Pending", None, None,
            f"op-{iid}" if running else None, 1 if running else 0, later, later,
            checked_out if running else None, None, checked_out, checked_out)
