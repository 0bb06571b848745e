import asyncio

import pytest

from service.auth import ALL_SCOPES, APPROVE, READ, CredentialCache, TokenSigner
from service.errors import Unauthorized


class CountingDatabase:
    def __init__(self, row):
        self.row = row
        self.calls = 0

    async def fetchrow(self, name, client_id):
        self.calls += 1
        await asyncio.sleep(0.01)
        return self.row


ROW = {"reseller_id": 7, "edition": "Standard", "scopes": [READ]}


async def test_a_client_costs_one_lookup_per_ttl_however_many_requests():
    pool = CountingDatabase(ROW)
    cache = CredentialCache(db=pool, ttl=0.3)
    results = await asyncio.gather(*(cache.get("c1") for _ in range(50)))
    assert {r.reseller_id for r in results} == {7}
    for _ in range(50):
        await cache.get("c1")
    assert pool.calls == 1
    await asyncio.sleep(0.35)
    await cache.get("c1")
    assert pool.calls == 2


async def test_a_revoked_credential_is_cached_as_none():
    cache = CredentialCache(db=CountingDatabase(None))
    assert await cache.get("gone") is None


def test_tokens_round_trip_and_reject_tampering():
    signer = TokenSigner(key="k", ttl_seconds=60)
    token = signer.issue("client-1")
    assert signer.verify(token) == ("client-1", ALL_SCOPES)
    assert signer.verify(signer.issue("client-2", frozenset({APPROVE}))) == ("client-2", frozenset({APPROVE}))
    with pytest.raises(Unauthorized):
        signer.verify(token[:-2] + "AA")
    with pytest.raises(Unauthorized):
        TokenSigner(key="other", ttl_seconds=60).verify(token)
    with pytest.raises(Unauthorized, match="expired"):
        TokenSigner(key="k", ttl_seconds=-1).verify(TokenSigner(key="k", ttl_seconds=-1).issue("c"))
