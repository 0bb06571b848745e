"""Reading PostgreSQL's EXPLAIN (FORMAT JSON) in tests: every node of a plan."""

from __future__ import annotations

import json
from typing import Any

import asyncpg


def plan_nodes(plan: Any) -> list[dict]:
    """Every node of a plan (the JSON text or its parsed form), depth first."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "Node Type" in node:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(plan) if isinstance(plan, str) else plan)
    return found


async def custom_and_generic(conn: asyncpg.Connection, sql: str, args: list) -> tuple[str, str]:
    """EXPLAIN (FORMAT JSON) of `sql`: planned for `args`, and the generic plan a cached
    prepared statement would use (the values given only at execution)."""
    custom = await conn.fetchval("EXPLAIN (FORMAT JSON) " + sql, *args)
    literals = ", ".join("NULL" if a is None else f"'{a}'" for a in args)
    async with conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE page AS {sql}")
        generic = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE page({literals})")
        await conn.execute("DEALLOCATE page")
    return custom, generic
