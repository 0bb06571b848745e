"""The events trail: what happened to a reseller's orders, in feed order.

Every change writes its event in the statement (or transaction) that makes the
change, so an event exists exactly when its change committed.

The feed's position is (xid, id): the writing transaction's id, then the
event's. A plain `id > last` would miss events: ids come from a sequence when
a row is inserted, and a transaction holding id 7 may commit after a reader
has already returned id 8 and moved past it. Instead the feed only returns
events of transactions older than every transaction still running
(pg_snapshot_xmin): those have all ended, so no event can ever appear at a
position before one the reader has already seen. An event is therefore held
back until the transactions that started before its own have finished,
usually milliseconds.
"""

from __future__ import annotations

from service.auth import Principal
from service.db import Database
from service.domain import representations as rep
from service.domain.orders import Orders

Position = tuple[int, int]  # (xid, id)
START: Position = (0, 0)

class Events:
    def __init__(self, *, db: Database, orders: Orders) -> None:
        self._db = db
        self._orders = orders

    async def feed(
        self,
        who: Principal,
        *,
        after: Position,
        event_type: str | None,
        order_id: int | None,
        size: int,
    ) -> tuple[list[dict], Position]:
        """A page of the feed and the position to read from next (the same one when empty)."""
        rows = await self._db.fetch(
            "events_feed", who.reseller_id, str(after[0]), after[1], event_type, order_id, size
        )
        if not rows:
            return [], after
        return [rep.event(row) for row in rows], (int(rows[-1]["feed_xid"]), rows[-1]["id"])

    async def of_order(self, who: Principal, order_id: int, *, after: int | None, size: int) -> list[dict]:
        await self._orders.require_visible(who, order_id)
        rows = await self._db.fetch("order_events_page", order_id, who.reseller_id, after, size)
        return [rep.event(row) for row in rows]
