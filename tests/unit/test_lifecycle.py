"""The lifecycle has one home: the SQL names only its statuses and event types,
and every statement that moves an order or item declares a move it allows."""

from __future__ import annotations

import re

import pytest

from service import db, lifecycle

SQL = db.sql_dir()
QUERIES = db.load_queries(SQL / "queries")
_STATUS_LITERAL = re.compile(r"status\s*(?:=|<>|IN|NOT IN)\s*\(?\s*('[^']*'(?:\s*,\s*'[^']*')*)", re.IGNORECASE)
_ANY_LITERAL = re.compile(r"'([^']*)'")
_TRANSITION = re.compile(r"^-- transition: (item |subscription )?(.+?) -> (.+?)\s*$", re.MULTILINE)
_EVENT = re.compile(r"'((?:order|item|subscription)\.[a-z_]+)'")
_ACTION_LITERAL = re.compile(r"\baction\s*(?:=|<>|IN|NOT IN)\s*\(?\s*('[^']*'(?:\s*,\s*'[^']*')*)", re.IGNORECASE)
# Which moves a `-- transition:` line declares: of an order (no prefix), an item, a subscription.
_ALLOWED = {
    "": lifecycle.TRANSITIONS,
    "item ": lifecycle.ITEM_TRANSITIONS,
    "subscription ": lifecycle.SUBSCRIPTION_TRANSITIONS,
}


def _sql_files() -> dict[str, str]:
    files = {p.name: p.read_text() for p in sorted((SQL / "queries").glob("*.sql"))}
    files.update({p.name: p.read_text() for p in sorted((SQL / "migrations").glob("*.sql"))})
    return files


def _strip_comments(text: str) -> str:
    return re.sub(r"--[^\n]*", "", text)


def _status_literals(text: str) -> set[str]:
    found = set()
    for match in _STATUS_LITERAL.finditer(_strip_comments(text)):
        found.update(_ANY_LITERAL.findall(match.group(1)))
    # `SET status = CASE ... THEN 'X' ELSE 'Y' END` and CASE results in status computations.
    for case in re.finditer(r"CASE(.*?)END", _strip_comments(text), re.DOTALL):
        body = case.group(1)
        if "status" in body.lower() or "approval_required" in body:
            found.update(re.findall(r"THEN\s+'([^']*)'", body))
            found.update(re.findall(r"ELSE\s+'([^']*)'", body))
    return found


def test_the_sql_names_only_the_lifecycles_statuses():
    known = set(lifecycle.ORDER_STATUSES) | set(lifecycle.ITEM_STATUSES) | set(lifecycle.SUBSCRIPTION_STATUSES)
    used: dict[str, set[str]] = {}
    for name, text in _sql_files().items():
        for status in _status_literals(text):
            used.setdefault(status, set()).add(name)
    unknown = {status: files for status, files in used.items() if status not in known}
    assert unknown == {}
    # Every status the lifecycle defines is one the SQL actually reaches or tests for.
    assert set(used) == known


def test_the_sql_names_only_the_lifecycles_item_actions():
    used: set[str] = set()
    for text in _sql_files().values():
        for match in _ACTION_LITERAL.finditer(_strip_comments(text)):
            used.update(_ANY_LITERAL.findall(match.group(1)))
    # Exactly the actions the lifecycle defines: the migration's CHECK names them all.
    assert used == set(lifecycle.ITEM_ACTIONS)


def test_the_sql_writes_only_the_lifecycles_event_types():
    written: set[str] = set()
    for text in _sql_files().values():
        written.update(_EVENT.findall(_strip_comments(text)))
    assert written == set(lifecycle.EVENT_TYPES)


def _declared_moves() -> dict[str, list[tuple[str, str, str]]]:
    """query -> [(kind, from, to)], kind being a key of _ALLOWED."""
    moves: dict[str, list[tuple[str, str, str]]] = {}
    for path in sorted((SQL / "queries").glob("*.sql")):
        for block in re.split(r"(?=^-- name: )", path.read_text(), flags=re.MULTILINE):
            name = re.match(r"-- name: (\w+)", block)
            if name:
                moves[name.group(1)] = _TRANSITION.findall(block)
    return moves


def test_every_declared_move_is_one_the_lifecycle_allows():
    for query, moves in _declared_moves().items():
        for kind, source, target in moves:
            allowed = _ALLOWED[kind]
            assert target in allowed.get(source, ()), f"{query}: {source} -> {target} is not a lifecycle move"


def test_every_statement_that_sets_a_status_declares_its_moves():
    moves = _declared_moves()
    for name, sql in QUERIES.items():
        if re.search(r"\bSET\s+status\s*=", sql, re.IGNORECASE) or re.search(
            r"status\s*=\s*'In Progress',", sql
        ):
            assert moves.get(name), f"{name} changes a status without a '-- transition:' line"


@pytest.mark.parametrize("kind", ["", "subscription "])
def test_every_move_of_the_lifecycle_is_made_by_some_statement(kind):
    declared = {(src, dst) for moves in _declared_moves().values() for k, src, dst in moves if k == kind}
    every = {(src, dst) for src, targets in _ALLOWED[kind].items() for dst in targets}
    assert declared == every


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        ("Draft", "Pending", True),
        ("Draft", "Reseller Pending Approval", True),
        ("Reseller Pending Approval", "Cancelled by Reseller", True),
        ("Reseller Pending Approval", "Pending", True),
        ("Cancelled by Reseller", "Pending", False),
        ("Completed", "In Progress", False),
        ("Draft", "Completed", False),
    ],
)
def test_may_move(current, target, allowed):
    assert lifecycle.may_move(current, target) is allowed


def test_stages():
    assert [s for s in lifecycle.ORDER_STATUSES if lifecycle.is_confirmed(s)] == [
        "Pending",
        "In Progress",
        "Completed",
        "Partially Completed",
        "Failed",
    ]
