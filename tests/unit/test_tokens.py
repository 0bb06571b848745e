import asyncio
import base64
import json

import jwt
import pytest

from service.auth import ALL_SCOPES, APPROVE, READ, SCOPES, CredentialCache
from service.errors import Unauthorized
from service.live.hub import Hub
from service.secretbox import SecretBox
from service.tokens import ExpiredToken, TokenSigner, UnknownSigningKey, new_signing_key

KEY = bytes(range(32))


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


def _key_row(box: SecretBox, *, current: bool = True) -> dict:
    kid, jwk, sealed = new_signing_key(box)
    return {"kid": kid, "public_jwk": jwk, "private_key": sealed, "current": current}


def _signer(box: SecretBox, rows: list[dict], ttl: int = 60) -> TokenSigner:
    signer = TokenSigner(ttl_seconds=ttl, box=box)
    signer.load(rows)
    return signer


def test_tokens_round_trip_and_reject_tampering():
    box = SecretBox(KEY)
    signer = _signer(box, [_key_row(box)])
    token = signer.issue("client-1", SCOPES)
    assert signer.verify(token) == ("client-1", ALL_SCOPES)
    assert signer.verify(signer.issue("client-2", [APPROVE])) == ("client-2", frozenset({APPROVE}))
    head, payload, signature = token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    with pytest.raises(Unauthorized):
        signer.verify(f"{head}.{payload}.{flipped}")
    # A key this signer does not have: told apart, so the caller can read the key set again.
    with pytest.raises(UnknownSigningKey):
        signer.verify(_signer(box, [_key_row(box)]).issue("client-1", SCOPES))
    expiring = _signer(box, [_key_row(box)], ttl=-1)
    with pytest.raises(ExpiredToken, match="expired"):
        expiring.verify(expiring.issue("c", SCOPES))


def test_a_token_of_the_v31_format_or_without_a_signature_is_refused():
    box = SecretBox(KEY)
    signer = _signer(box, [_key_row(box)])
    claims = base64.urlsafe_b64encode(json.dumps({"c": "client-1", "e": 2**40}).encode()).decode().rstrip("=")
    for token in (f"{claims}.c2lnbmF0dXJl", "garbage", "a.b.c", ""):
        with pytest.raises(Unauthorized):
            signer.verify(token)
    kid = next(iter(signer.kids))
    unsigned = jwt.encode({"sub": "c", "scope": READ, "iat": 0, "exp": 2**40}, None, algorithm="none",
                          headers={"kid": kid})
    with pytest.raises(Unauthorized):
        signer.verify(unsigned)


def test_a_key_that_leaves_the_set_takes_its_verified_tokens_with_it():
    box = SecretBox(KEY)
    old, new = _key_row(box), _key_row(box)
    signer = _signer(box, [old])
    token = signer.issue("client-1", [READ])
    assert signer.verify(token) == ("client-1", frozenset({READ}))  # verified, and kept
    signer.load([{**old, "current": False, "private_key": None}, new])
    assert signer.verify(token) == ("client-1", frozenset({READ}))  # an older key still verifies
    assert jwt.get_unverified_header(signer.issue("client-1", [READ]))["kid"] == new["kid"]
    signer.load([new])
    with pytest.raises(UnknownSigningKey):
        signer.verify(token)


def test_a_current_key_sealed_under_another_secret_key_leaves_the_held_key_signing():
    box = SecretBox(KEY)
    first = _key_row(box)
    signer = _signer(box, [first])
    elsewhere = _key_row(SecretBox(bytes(32)))  # made by a replica with another SECRET_KEY
    signer.load([{**first, "current": False}, elsewhere])
    assert jwt.get_unverified_header(signer.issue("c", [READ]))["kid"] == first["kid"]


def test_an_open_stream_ends_saying_why_its_token_no_longer_verifies():
    """The hub's sweep ends a stream whose token fails: expired, or its key deleted
    (not "expired" then: the operator removed the key)."""
    box = SecretBox(KEY)
    old, new = _key_row(box), _key_row(box)
    signer = _signer(box, [old])
    hub = Hub(
        db=None, signer=signer, credentials=None, max_per_credential=1, max_per_reseller=1, queue_limit=1,
        fallback_seconds=1, max_stream_seconds=1, keepalive_seconds=1, retry_after_seconds=1,
    )
    token = signer.issue("client-1", [READ])
    assert hub._token_refusal(token) is None
    expiring = _signer(box, [old], ttl=-1)
    assert hub._token_refusal(expiring.issue("client-1", [READ])) == "the access token expired"
    signer.load([new])
    assert hub._token_refusal(token) == "the access token is no longer valid: its signing key was deleted"
    assert hub._token_refusal("garbage") == "the access token is no longer valid"
