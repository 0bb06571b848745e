"""Database.script: the SQL of a keyed request's round trips, with values written into it."""

from __future__ import annotations

import pytest

from service.db import Database


class _Pool:
    def get_max_size(self) -> int:
        return 10


QUERIES = {
    # As service.db.load_queries reads them: the last statement without its semicolon.
    "opening": "-- a comment that stays home\nBEGIN;\nSELECT f({id}, decode({digest}, 'hex'))",
    "closing": "SELECT g({id});\nCOMMIT",
}


def _database() -> Database:
    return Database(pool=_Pool(), queries=QUERIES)


def test_a_script_is_its_statements_with_integers_and_hex_written_in_and_no_comments():
    script = _database().script("opening", "closing", id=-42, digest=b"\x00\xffa")
    assert script == "BEGIN;\nSELECT f(-42, decode('00ff61', 'hex'));\nSELECT g(-42);\nCOMMIT"


@pytest.mark.parametrize("value", ["1); DROP TABLE orders; --", 1.5, True, None])
def test_a_script_refuses_anything_but_integers_and_bytes(value):
    with pytest.raises(TypeError, match="int or bytes"):
        _database().script("closing", id=value)
