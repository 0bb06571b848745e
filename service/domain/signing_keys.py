"""The token signing keys: the operator lists, adds and deletes them; anyone
reads their public halves (the JWKS). Signing and verifying is service.tokens'
work; this is what the routes do to the table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.db import Database
from service.domain import representations as rep
from service.errors import NotFound, SigningKeyInUse
from service.secretbox import SecretBox
from service.tokens import new_signing_key


def signing_key(row: Mapping[str, Any]) -> dict:
    return {"kid": row["kid"], "createdAt": rep.timestamp(row["created_at"]), "current": row["current"]}


class SigningKeys:
    def __init__(self, *, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def jwks(self) -> dict:
        """RFC 7517: every key that verifies, the current one first."""
        return {"keys": [dict(row["public_jwk"]) for row in await self._db.fetch("signing_keys_jwks")]}

    async def list(self) -> list[dict]:
        return [signing_key(row) for row in await self._db.fetch("signing_keys_list")]

    async def create(self) -> dict:
        """A new key, which signs from now on; the older ones still verify."""
        kid, jwk, sealed = new_signing_key(self._box)
        return signing_key(await self._db.fetchrow("signing_key_create", kid, jwk, sealed))

    async def delete(self, kid: str) -> None:
        """Its tokens are refused from now on; never the current key (409)."""
        if await self._db.fetchval("signing_key_delete", kid) is not None:
            return
        if await self._db.fetchval("signing_key_exists", kid) is None:
            raise NotFound()
        raise SigningKeyInUse(
            "This key signs the tokens issued now; add a new key (POST /admin/signing-keys) first"
        )
