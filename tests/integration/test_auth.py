"""Tokens, the operator token, and who may open what."""

import base64
import time

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.app import create_app
from service.secretbox import SIGNING_KEY, context
from service.settings import Settings
from tests.api import ADMIN_TOKEN, PROBLEM
from tests.keys import SECRET_KEY, box


async def test_api_without_a_token_is_401_with_www_authenticate(client):
    for path in ("/api/orders", "/api/orders/1", "/api/no-such-thing"):
        response = await client.get(path)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert (await response.json(content_type=PROBLEM))["code"] == "unauthorized"


async def test_garbage_tampered_and_expired_tokens_are_401(api, client, conn):
    tenant = await api.tenant()
    head, payload, signature = tenant.token.split(".")
    row = await conn.fetchrow("SELECT kid, private_key FROM signing_keys")
    ours = Ed25519PrivateKey.from_private_bytes(box().open(row["private_key"], context(SIGNING_KEY, row["kid"])))
    now = int(time.time())
    claims = {"sub": tenant.client_id, "scope": "orders:read", "iat": now - 100}
    expired = jwt.encode({**claims, "exp": now - 10}, ours, algorithm="EdDSA", headers={"kid": row["kid"]})
    foreign = jwt.encode(
        {**claims, "exp": now + 600}, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": row["kid"]}
    )
    # The signature's first character replaced by another, always: it carries the top six bits
    # of the signature's first byte, so the signature differs, whatever the token is.
    tampered = f"{head}.{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    assert tampered != tenant.token
    v31 = f"{payload}.{signature}"  # the v3.1 format: payload.signature
    for token in ("garbage", tampered, expired, foreign, "a.b.c", v31):
        response = await client.get("/api/orders", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 401, token
    ok = await client.get("/api/orders", headers=tenant.headers)
    assert ok.status == 200


async def test_admin_token_never_opens_api_and_reseller_token_never_opens_admin(api, client):
    tenant = await api.tenant()
    response = await client.get("/api/orders", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status == 401
    response = await client.post(
        "/admin/resellers", json={"name": "x", "edition": "Free"}, headers=tenant.headers
    )
    assert response.status == 401
    response = await client.post("/admin/resellers", json={"name": "x", "edition": "Free"})
    assert response.status == 401


async def test_operator_api_is_absent_without_admin_token(aiohttp_client, dsn):
    client = await aiohttp_client(create_app(Settings(database_url=dsn, admin_token=None, secret_key=SECRET_KEY), dsn=dsn))
    response = await client.post(
        "/admin/resellers",
        json={"name": "x", "edition": "Free"},
        headers={"Authorization": "Bearer anything"},
    )
    assert response.status == 404


async def test_token_endpoint_checks_the_secret_and_the_grant(api, client):
    tenant = await api.tenant()

    def basic(user, secret):
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}

    form = {"grant_type": "client_credentials"}
    response = await client.post("/oauth/token", data=form, headers=basic(tenant.client_id, "wrong"))
    assert response.status == 401
    assert (await response.json(content_type=PROBLEM))["code"] == "invalid_client"
    response = await client.post("/oauth/token", data=form)
    assert response.status == 401
    response = await client.post(
        "/oauth/token", data={"grant_type": "password"}, headers=basic(tenant.client_id, tenant.client_secret)
    )
    assert (response.status, (await response.json(content_type=PROBLEM))["code"]) == (
        400,
        "unsupported_grant_type",
    )
    response = await client.post(
        "/oauth/token", data=form, headers=basic(tenant.client_id, tenant.client_secret)
    )
    body = await response.json()
    assert response.status == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert response.headers["Cache-Control"] == "no-store"

    await api.admin(
        "DELETE", f"/admin/resellers/{tenant.reseller_id}/credentials/{tenant.client_id}", expect=204
    )
    response = await client.post(
        "/oauth/token", data=form, headers=basic(tenant.client_id, tenant.client_secret)
    )
    assert response.status == 401


async def test_the_secret_is_stored_only_as_a_hash(api, conn):
    tenant = await api.tenant()
    stored = await conn.fetchval("SELECT secret_hash FROM credentials WHERE client_id = $1", tenant.client_id)
    assert tenant.client_secret not in stored
    assert len(stored) == 64
