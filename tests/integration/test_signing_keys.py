"""Access tokens as a gateway and an operator see them: JWTs a JWKS verifies, and
signing keys that rotate without a secret leaving the service."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time

import aiohttp
import jwt
import pytest

from service.app import create_app
from service.auth import SCOPES
from tests.api import ADMIN_TOKEN, PROBLEM, Api
from tests.process import serve, stop


async def _jwks(client) -> dict:
    response = await client.get("/.well-known/jwks.json")  # no Authorization: it is public
    assert response.status == 200
    assert response.headers["Cache-Control"].startswith("public, max-age=")
    return await response.json()


def _verify_as_a_gateway(jwks: dict, token: str) -> dict:
    """What an API gateway does: the key named by the token's kid, from the JWKS, with PyJWT."""
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [key for key in jwks["keys"] if key["kid"] == kid]
    return jwt.decode(token, jwt.PyJWK(jwk), algorithms=["EdDSA"], options={"require": ["exp", "iat"]})


async def test_the_jwks_verifies_an_issued_token_as_a_gateway_would(api, client):
    tenant = await api.tenant()
    reader = await api.token(tenant.client_id, tenant.client_secret, scope="orders:read")
    jwks = await _jwks(client)
    assert [set(key) for key in jwks["keys"]] == [{"kty", "crv", "x", "kid", "alg", "use"}]  # no private part
    assert jwt.get_unverified_header(tenant.token)["alg"] == "EdDSA"
    claims = _verify_as_a_gateway(jwks, tenant.token)
    assert claims["sub"] == tenant.client_id
    assert claims["scope"].split() == list(SCOPES)
    assert claims["exp"] - claims["iat"] == 3600 and abs(claims["iat"] - time.time()) < 60
    assert _verify_as_a_gateway(jwks, reader)["scope"] == "orders:read"
    # The gateway's check is real: a token changed after signing does not verify.
    head, payload, signature = tenant.token.split(".")
    forged = jwt.utils.base64url_encode(jwt.utils.base64url_decode(payload).replace(b"orders:read", b"orders:reaD"))
    with pytest.raises(jwt.InvalidSignatureError):
        _verify_as_a_gateway(jwks, f"{head}.{forged.decode()}.{signature}")


async def test_rotation_keeps_old_tokens_until_their_key_is_deleted(api, client):
    tenant = await api.tenant()
    old_token = tenant.token
    (first,) = await api.admin("GET", "/admin/signing-keys", expect=200)
    assert first["current"] is True and first["kid"] == jwt.get_unverified_header(old_token)["kid"]
    assert (await client.delete(f"/admin/signing-keys/{first['kid']}", headers=api.admin_headers)).status == 409

    added = await api.admin("POST", "/admin/signing-keys", expect=201)
    assert added["current"] is True and added["kid"] != first["kid"]
    listed = await api.admin("GET", "/admin/signing-keys", expect=200)
    assert [(k["kid"], k["current"]) for k in listed] == [(added["kid"], True), (first["kid"], False)]
    new_token = await api.token(tenant.client_id, tenant.client_secret)
    assert jwt.get_unverified_header(new_token)["kid"] == added["kid"]  # the new key signs from now on
    assert {k["kid"] for k in (await _jwks(client))["keys"]} == {first["kid"], added["kid"]}
    for token in (old_token, new_token):  # older keys still verify
        response = await client.get("/api/orders", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 200

    response = await client.delete(f"/admin/signing-keys/{added['kid']}", headers=api.admin_headers)
    assert response.status == 409
    assert (await response.json(content_type=PROBLEM))["code"] == "signing_key_in_use"
    await api.admin("DELETE", f"/admin/signing-keys/{first['kid']}", expect=204)
    response = await client.get("/api/orders", headers={"Authorization": f"Bearer {old_token}"})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert (await response.json(content_type=PROBLEM))["code"] == "unauthorized"
    assert (await client.get("/api/orders", headers={"Authorization": f"Bearer {new_token}"})).status == 200
    assert [k["kid"] for k in (await _jwks(client))["keys"]] == [added["kid"]]
    response = await client.delete(f"/admin/signing-keys/{first['kid']}", headers=api.admin_headers)
    assert (response.status, (await response.json(content_type=PROBLEM))["code"]) == (404, "not_found")


async def _status(session: aiohttp.ClientSession, url: str, token: str) -> int:
    async with session.get(f"{url}/api/orders", headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status


async def test_a_deleted_key_stops_its_tokens_on_another_replica_within_5_s(api, client, dsn):
    """The replica here deletes the key; a `serve` process on the same database, which
    verified the token (and keeps it in its cache), refuses it within the contract's 5 s."""
    tenant = await api.tenant()
    old_token = tenant.token
    (first,) = await api.admin("GET", "/admin/signing-keys", expect=200)
    process, url = await serve(dsn, ADMIN_TOKEN=ADMIN_TOKEN)
    try:
        async with aiohttp.ClientSession() as session:
            assert await _status(session, url, old_token) == 200  # verified there, and cached
            added = await api.admin("POST", "/admin/signing-keys", expect=201)
            new_token = await api.token(tenant.client_id, tenant.client_secret)
            # Signed here a moment ago by a key the other replica has not read yet: it reads it at once.
            assert jwt.get_unverified_header(new_token)["kid"] == added["kid"]
            assert await _status(session, url, new_token) == 200
            assert await _status(session, url, old_token) == 200  # until its key is deleted
            await api.admin("DELETE", f"/admin/signing-keys/{first['kid']}", expect=204)
            deleted_at = time.monotonic()
            while await _status(session, url, old_token) != 401:
                assert time.monotonic() - deleted_at < 5, "the other replica still honours a deleted key"
                await asyncio.sleep(0.1)
            assert await _status(session, url, new_token) == 200
            # Tokens the other replica signs carry the new key too.
            other = Api(aiohttp.ClientSession(base_url=url))
            try:
                token_there = await other.token(tenant.client_id, tenant.client_secret)
            finally:
                await other.client.close()
            assert jwt.get_unverified_header(token_there)["kid"] == added["kid"]
    finally:
        await stop([process])


async def test_ten_wrong_operator_tokens_brake_the_operator_api_for_that_address(api, client):
    tenant = await api.tenant()
    wrong = {"Authorization": "Bearer not-the-operator-token"}
    for _ in range(10):
        assert (await client.get("/admin/signing-keys", headers=wrong)).status == 401
    braked = await client.get("/admin/signing-keys", headers=api.admin_headers)  # the right token too
    assert braked.status == 429
    assert 50 <= int(braked.headers["Retry-After"]) <= 60
    assert (await braked.json(content_type=PROBLEM))["code"] == "too_many_failed_attempts"
    # Resellers are not held back by it.
    assert (await client.get("/api/orders", headers=tenant.headers)).status == 200


async def test_right_operator_tokens_never_brake(api, client):
    for _ in range(30):
        await api.admin("GET", "/admin/signing-keys", expect=200)


async def test_the_operator_brake_follows_its_setting(dsn, settings, aiohttp_client):
    app = create_app(dataclasses.replace(settings, admin_failed_auth_per_minute=3), dsn=dsn)
    client = await aiohttp_client(app)
    for _ in range(3):
        assert (await client.get("/admin/signing-keys")).status == 401  # no token at all counts too
    braked = await client.get("/admin/signing-keys", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert braked.status == 429
    metrics = await (await client.get("/metrics")).text()
    assert re.search(r"^rate_limited_total 1\.0$", metrics, re.MULTILINE), "counted as a 429 of a brake"
