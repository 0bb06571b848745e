"""order_checkout, checking for itself, reads a draft's items without the order's lock,
against the order's row version its snapshot saw: that is only sound while
every change of a draft's items also writes the order's row. Each statement
that writes order_items does, or is listed here with why it need not."""

import re

from service import db

QUERIES = db.load_queries(db.sql_dir() / "queries")

WRITES_ITEMS = re.compile(r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+order_items\b", re.IGNORECASE)
WRITES_ORDER = re.compile(r"\bUPDATE\s+(visible_)?orders\b", re.IGNORECASE)

EXEMPT = {
    "item_delete": "service.domain.items runs order_refresh_totals, which writes the row, in its transaction",
    "subscription_apply": "the poll job writes items of orders checked out already, never of a draft",
}


def _code(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


def test_every_statement_that_changes_a_drafts_items_writes_the_order_row():
    writers = {name for name, sql in QUERIES.items() if WRITES_ITEMS.search(_code(sql))}
    assert {"item_add", "item_set_characteristics"} <= writers  # the check finds them at all
    unguarded = {name for name in writers - EXEMPT.keys() if not WRITES_ORDER.search(_code(QUERIES[name]))}
    assert unguarded == set()
    assert EXEMPT.keys() <= writers, "an exemption names a statement that no longer writes items"
