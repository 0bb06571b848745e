"""What a reseller may choose from: its accounts and the product catalog; and
each account's approval setting (true or false decides for its orders, null
follows the reseller's)."""

from __future__ import annotations

from service.auth import Principal
from service.db import Database
from service.domain import representations as rep
from service.errors import NotFound


class Catalog:
    def __init__(self, *, db: Database) -> None:
        self._db = db

    async def accounts(self, who: Principal, *, after: int | None, size: int) -> list[dict]:
        rows = await self._db.fetch("accounts_page", who.reseller_id, after, size)
        return [rep.account(row) for row in rows]

    async def account(self, who: Principal, account_id: int) -> dict:
        row = await self._db.fetchrow("account_get", account_id, who.reseller_id)
        if row is None:
            raise NotFound()
        return rep.account(row)

    async def require_account(self, who: Principal, account_id: int) -> None:
        await self.account(who, account_id)

    async def set_account_approval(self, who: Principal, account_id: int, *, approval_required: bool | None) -> dict:
        row = await self._db.fetchrow("account_set_approval", account_id, who.reseller_id, approval_required)
        if row is None:
            raise NotFound()
        return rep.account(row)

    async def products(self, *, after: int | None, size: int) -> list[dict]:
        rows = await self._db.fetch("products_page", after, size)
        return [rep.product(row) for row in rows]
