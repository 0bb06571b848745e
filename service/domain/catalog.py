"""What a reseller may choose from: its accounts and the product catalog."""

from __future__ import annotations

from service.auth import Principal
from service.db import Database
from service.domain import representations as rep


class Catalog:
    def __init__(self, *, db: Database) -> None:
        self._db = db

    async def accounts(self, who: Principal, *, after: int | None, size: int) -> list[dict]:
        rows = await self._db.fetch("accounts_page", who.reseller_id, after, size)
        return [rep.account(row) for row in rows]

    async def products(self, *, after: int | None, size: int) -> list[dict]:
        rows = await self._db.fetch("products_page", after, size)
        return [rep.product(row) for row in rows]
