"""The schema keeps the path to sharding by tenant open: every tenant-owned table
carries reseller_id, and every named query that touches one names it (scopes
by it, or writes it), except the queries listed below as global by design."""

from __future__ import annotations

import re

from service import db

SQL = db.sql_dir()
QUERIES = db.load_queries(SQL / "queries")

# Tables that belong to no tenant: the catalog, the tenants themselves, the
# service's own bookkeeping. On Citus they are reference or local tables.
GLOBAL_TABLES = {"products", "resellers", "service_keys", "signing_keys", "schema_migrations"}

# Queries that work across tenants on purpose, and why.
GLOBAL_QUERIES = {
    # The operator API and the demo seed act on a reseller by its id (resellers.id is
    # the tenant key itself) or on the global catalog.
    "reseller_create": "creates a tenant",
    "reseller_get": "the tenant by its id",
    "reseller_patch": "the tenant by its id",
    "reseller_settings": "the tenant by its id",
    "reseller_set_settings": "the tenant by its id",
    "customer_create": "inserts the tenant's id from resellers",
    "credential_create": "inserts the tenant's id from resellers",
    "demo_reseller": "the demo seed looks its tenant up by name",
    # Logging in: a clientId is globally unique and names its tenant.
    "credential_for_login": "looks a client up by its globally unique id",
    "credential_state": "looks a client up by its globally unique id",
    # Background jobs serve every tenant; each row they touch carries its tenant.
    "execution_claim": "the poll job claims due work of every tenant",
    "execution_order_lock": "the poll job locks the order of a row it claimed",
    "execution_submitted": "the poll job writes a row it claimed (lease token)",
    "execution_still_running": "the poll job writes a row it claimed (lease token)",
    "execution_finished": "the poll job writes a row it claimed (lease token)",
    "execution_retry_later": "the poll job writes a row it claimed (lease token)",
    "execution_release": "the poll job hands back rows it claimed (lease token)",
    "execution_order_refresh": "the poll job recomputes the order of a row it claimed",
    "expiry_delete_batch": "the expiry job deletes expired drafts of every tenant",
    "events_purge_batch": "retention deletes old events of every tenant",
    "live_events_waiting": "the live hub reads the feed of every tenant once and fans it out",
    "live_head": "the live hub reads the feed of every tenant once and fans it out",
    "metrics_execution_backlog": "the operator's metrics count the backlog of every tenant",
    "metrics_feed_horizon": "the feed's horizon is server-wide: the metric reads every tenant's events",
    "webhook_claim": "the webhook sender claims due deliveries of every tenant",
    "webhook_attempt_succeeded": "the webhook sender writes a delivery it claimed (lease token)",
    "webhook_attempt_failed": "the webhook sender writes a delivery it claimed (lease token)",
    "webhook_release": "the webhook sender hands back deliveries it claimed (lease token)",
    "webhook_oldest_pending": "a metric over every tenant's pending deliveries",
    # Inside a write already scoped by the order's tenant (under its lock).
    "order_refresh_totals": "runs after order_lock, which scoped the order by tenant",
    "item_delete": "runs after order_lock, which scoped the order by tenant",
    "item_set_characteristics": "runs after order_lock, which scoped the order by tenant",
    "order_set_custom_fields": "runs after order_lock, which scoped the order by tenant",
}

_TABLE = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)\s*\((.*?)\n\);", re.DOTALL | re.IGNORECASE)
_ADD_TENANT = re.compile(r"ALTER TABLE (\w+)\s+ADD COLUMN reseller_id", re.IGNORECASE)
_REFERENCED = re.compile(r"\b(?:FROM|JOIN|UPDATE|INTO|DELETE FROM)\s+(\w+)", re.IGNORECASE)


def _tables() -> dict[str, bool]:
    """Every table the migrations create, and whether it carries reseller_id."""
    tables: dict[str, bool] = {}
    for path in sorted((SQL / "migrations").glob("*.sql")):
        text = re.sub(r"--[^\n]*", "", path.read_text())
        for name, body in _TABLE.findall(text):
            tables[name] = bool(re.search(r"^\s*reseller_id\b", body, re.MULTILINE))
        for name in _ADD_TENANT.findall(text):
            tables[name] = True
    tables["schema_migrations"] = False  # created by the runner, not a migration
    return tables


def test_every_tenant_owned_table_carries_reseller_id():
    tables = _tables()
    assert {"orders", "order_items", "executions", "order_events", "accounts"} <= set(tables)
    missing = {name for name, tenant in tables.items() if not tenant and name not in GLOBAL_TABLES}
    assert missing == set(), f"tenant-owned tables without reseller_id: {missing}"


def test_every_query_on_a_tenant_table_names_the_tenant():
    tenant_tables = {name for name, tenant in _tables().items() if tenant} | {"visible_orders"}
    unscoped = {}
    for name, sql in QUERIES.items():
        code = re.sub(r"--[^\n]*", "", sql)
        touched = {t for t in _REFERENCED.findall(code) if t in tenant_tables}
        if touched and "reseller_id" not in code and name not in GLOBAL_QUERIES:
            unscoped[name] = sorted(touched)
    assert unscoped == {}, f"queries on tenant tables that do not name reseller_id: {unscoped}"


def test_the_global_list_names_only_real_queries():
    assert set(GLOBAL_QUERIES) <= set(QUERIES)
