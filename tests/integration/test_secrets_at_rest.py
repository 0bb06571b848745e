"""A copy of the database alone signs no token and forges no webhook: every row of
every table read after real use holds no webhook secret in any encoding and no
private key of a published public key; and a v3.1 database's plain rows are
sealed by the upgrade, with the same secrets still working."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time

import asyncpg
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_der_private_key, load_pem_private_key

from service import db, migrate, secretbox
from service.auth import hash_secret
from service.http.idempotency import fingerprint
from service.secretbox import SIGNING_KEY, context
from service.webhooks import signing
from tests.api import Api
from tests.keys import box
from tests.webhook_support import eventually, subscribe

KEY = "Idempotency-Key"
SQL = db.sql_dir()
QUERIES = db.load_queries(SQL / "queries")
_B64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{42,44}={0,2}")
_HEX_TOKEN = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")


async def every_value(conn: asyncpg.Connection) -> list[tuple[str, str | None, bytes | None]]:
    """(table.column, the value cast to text, its bytes when bytea) of every row of every table."""
    found = []
    tables = await conn.fetch(
        "SELECT c.oid::regclass::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
    )
    for table in tables:
        columns = await conn.fetch(
            "SELECT quote_ident(attname) AS name, atttypid = 'bytea'::regtype AS bytea FROM pg_attribute"
            " WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
            table["name"],
        )
        for column in columns:
            raw = f", {column['name']} AS raw" if column["bytea"] else ""
            for row in await conn.fetch(f"SELECT {column['name']}::text AS text{raw} FROM {table['name']}"):
                found.append((f"{table['name']}.{column['name']}", row["text"], row.get("raw")))
    return found


def encodings(key: bytes) -> list[bytes]:
    """Every way a webhook's key could be written down."""
    b64, urlsafe = base64.b64encode(key), base64.urlsafe_b64encode(key)
    return [
        key,
        signing.secret_of(key).encode(),
        b64,
        b64.rstrip(b"="),
        urlsafe,
        urlsafe.rstrip(b"="),
        key.hex().encode(),
        key.hex().upper().encode(),
    ]


def leaked_webhook_keys(values, keys: list[bytes]) -> list[str]:
    leaks = []
    for where, text, raw in values:
        for key in keys:
            for written in encodings(key):
                if (text is not None and written in text.encode("utf-8", "surrogateescape")) or (
                    raw is not None and written in raw
                ):
                    leaks.append(where)
    return sorted(set(leaks))


def _candidates(text: str | None, raw: bytes | None) -> list[bytes]:
    """32-byte strings a value could hold a private key as: itself, any 32-byte window of its
    bytes, base64 or hex words in its text."""
    found = []
    if raw is not None:
        found += [raw[i : i + 32] for i in range(max(len(raw) - 31, 0))]
    for word in _B64_TOKEN.findall(text or ""):
        try:
            found.append(base64.urlsafe_b64decode(word.replace("+", "-").replace("/", "_") + "=" * (-len(word) % 4)))
        except (binascii.Error, ValueError):
            pass
    found += [bytes.fromhex(word) for word in _HEX_TOKEN.findall(text or "")]
    return [c for c in found if len(c) == 32]


def _public_x(private) -> str:
    return jwt.utils.base64url_encode(private.public_key().public_bytes_raw()).decode()


def leaked_private_keys(values, published: set[str]) -> list[str]:
    """Places holding a private key (raw Ed25519, PEM or DER) whose public key was published."""
    leaks = []
    for where, text, raw in values:
        keys = [Ed25519PrivateKey.from_private_bytes(c) for c in _candidates(text, raw)]
        for blob, load in ((raw, load_der_private_key), ((text or "").encode(), load_pem_private_key)):
            if blob and (load is load_der_private_key or b"PRIVATE KEY" in blob):
                try:
                    keys.append(load(blob, password=None))
                except (ValueError, TypeError):
                    pass
        if any(hasattr(k, "public_key") and _x_or_none(k) in published for k in keys):
            leaks.append(where)
    return sorted(set(leaks))


def _x_or_none(private) -> str | None:
    try:
        return _public_x(private)
    except AttributeError:  # an EC key: its point, as a JWK would carry it
        numbers = private.public_key().public_numbers()
        return jwt.utils.base64url_encode(numbers.x.to_bytes(32, "big")).decode()


async def _jwks(api: Api) -> set[str]:
    response = await api.client.get("/.well-known/jwks.json")
    return {key["x"] for key in (await response.json())["keys"]}


async def test_no_row_of_any_table_holds_a_webhook_secret_or_a_published_private_key(
    webhook_api, receiver, conn
):
    url, inbox = await receiver()
    keyed_url, keyed_inbox = await receiver()
    api = await webhook_api()
    tenant = await api.tenant()
    published = await _jwks(api)
    # Webhooks: one plain, one created with an Idempotency-Key (its answer stored) and replayed.
    plain = await subscribe(api, tenant, url)
    keyed_body = {"url": keyed_url, "description": "keyed"}
    keyed_headers = {**tenant.headers, KEY: "hook-1"}
    response = await api.client.post("/api/webhooks", json=keyed_body, headers=keyed_headers)
    assert response.status == 201
    keyed = await response.json()
    response = await api.client.post("/api/webhooks", json=keyed_body, headers=keyed_headers)
    assert response.headers["Idempotent-Replayed"] == "true"
    assert (await response.json())["secret"] == keyed["secret"]  # the stored answer opens again
    # Deliveries, each signed with its webhook's secret (opened by the sender).
    await api.draft(tenant)
    await eventually(lambda: _arrived(inbox, 1))
    await eventually(lambda: _arrived(keyed_inbox, 1))
    assert [e["type"] for e in inbox.verified(plain["secret"])] == ["order.created"]
    assert [e["type"] for e in keyed_inbox.verified(keyed["secret"])] == ["order.created"]
    # Tokens, and a rotation of the signing keys.
    for scope in ("orders:read", None):
        await api.token(tenant.client_id, tenant.client_secret, scope=scope)
    old = (await api.admin("GET", "/admin/signing-keys", expect=200))[0]
    await api.admin("POST", "/admin/signing-keys", expect=201)
    published |= await _jwks(api)
    await api.admin("DELETE", f"/admin/signing-keys/{old['kid']}", expect=204)
    tenant.token = await api.token(tenant.client_id, tenant.client_secret)
    published |= await _jwks(api)
    assert len(published) == 2

    webhook_keys = [signing.key_of(plain["secret"]), signing.key_of(keyed["secret"])]
    values = await every_value(conn)
    assert any(where == "idempotency_keys.body" for where, _, _ in values)
    assert leaked_webhook_keys(values, webhook_keys) == []
    assert leaked_private_keys(values, published) == []

    # The checks can fail: the same readers find a secret and a private key put where they can see them.
    status, _ = await api.call(tenant, "PATCH", f"/api/webhooks/{plain['id']}", {"description": plain["secret"][6:]})
    assert status == 200, _
    row = await conn.fetchrow("SELECT kid, private_key FROM signing_keys")
    private = box().open(row["private_key"], context(SIGNING_KEY, row["kid"]))
    await conn.execute("UPDATE idempotency_keys SET body = $1", b'{"padding": 1}' + private)
    values = await every_value(conn)
    assert leaked_webhook_keys(values, webhook_keys) == ["webhooks.description"]
    assert leaked_private_keys(values, published) == ["idempotency_keys.body"]


async def _arrived(inbox, n: int) -> bool:
    return len(inbox.received) >= n


# ---- the upgrade from v3.1 ----

def _v31_token(key: str, client_id: str) -> str:
    """A token as v3.1 signed it: base64url claims, a dot, HMAC-SHA256 with service_keys' secret."""
    claims = base64.urlsafe_b64encode(json.dumps({"c": client_id, "e": int(time.time()) + 3600, "s": "rwa"}).encode())
    payload = claims.rstrip(b"=").decode()
    mac = hmac.new(key.encode(), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


async def _v31_rows(conn, receiver_url: str) -> dict:
    """What a v3.1 service wrote for a reseller that created a webhook with an Idempotency-Key."""
    reseller = await conn.fetchrow(QUERIES["reseller_create"], "Upgraded Cloud", "Standard")
    client_id, client_secret = "ro_v31client", "v31-client-secret"
    scopes = ["orders:read", "orders:write", "orders:approve"]
    await conn.execute(QUERIES["credential_create"], reseller["id"], client_id, hash_secret(client_secret), scopes)
    key = signing.new_key()
    webhook = await conn.fetchrow(
        "INSERT INTO webhooks (reseller_id, url, signing_key) VALUES ($1, $2, $3) RETURNING id, created_at",
        reseller["id"], receiver_url, key,
    )
    await conn.execute(
        "INSERT INTO webhook_dispatch (reseller_id, xid, event_id) VALUES ($1, pg_current_xact_id(), 0)",
        reseller["id"],
    )
    request = json.dumps({"url": receiver_url}).encode()
    answer = {
        "id": webhook["id"], "url": receiver_url, "eventTypes": None, "description": None, "enabled": True,
        "createdAt": webhook["created_at"].isoformat(), "secret": signing.secret_of(key),
    }
    await conn.execute(
        "INSERT INTO idempotency_keys (reseller_id, key, fingerprint, status, headers, body, expires_at)"
        " VALUES ($1, 'hook-v31', $2, 201, $3::jsonb, $4, now() + interval '1 day')",
        reseller["id"],
        fingerprint("POST", "/api/webhooks", request),
        json.dumps({"Content-Type": "application/json", "Location": f"/api/webhooks/{webhook['id']}"}),
        json.dumps(answer, separators=(",", ":")).encode(),
    )
    old_signing_key = await conn.fetchval("SELECT secret FROM service_keys WHERE name = 'token_signing'")
    return {
        "reseller_id": reseller["id"], "account_id": reseller["account_id"], "client_id": client_id,
        "client_secret": client_secret, "key": key, "webhook_id": webhook["id"], "request": request,
        "answer": answer, "v31_token": _v31_token(old_signing_key, client_id),
    }


async def test_the_upgrade_seals_a_v31_databases_secrets_and_they_still_work(
    v31_dsn, settings, receiver, aiohttp_client
):
    from service.app import create_app
    from tests.webhook_support import fast

    url, inbox = await receiver()
    conn = await asyncpg.connect(v31_dsn, **db.connect_kwargs())
    try:
        v31 = await _v31_rows(conn, url)
        assert leaked_webhook_keys(await every_value(conn), [v31["key"]])  # plain before the upgrade
        applied = await migrate.migrate(conn, migrate.discover(SQL / "migrations"), QUERIES, box=box())
        assert [m.version for m in applied] == [10, 11, 12, 13, 14]
        assert await conn.fetchval("SELECT to_regclass('service_keys')") is None  # the HMAC key is gone
        hook = await conn.fetchrow("SELECT plain_signing_key, signing_secret FROM webhooks")
        assert hook["plain_signing_key"] is None and secretbox.is_sealed(hook["signing_secret"])
        assert secretbox.is_sealed(await conn.fetchval("SELECT body FROM idempotency_keys"))
        assert await conn.fetchval("SELECT count(*) FROM signing_keys") == 1
        values = await every_value(conn)
        assert leaked_webhook_keys(values, [v31["key"]]) == []
        # Idempotent: another migrate (every start runs it) changes nothing.
        assert await migrate.migrate(conn, migrate.discover(SQL / "migrations"), QUERIES, box=box()) == []
        assert [v for v in await every_value(conn) if v[0] != "signing_keys.created_at"] == [
            v for v in values if v[0] != "signing_keys.created_at"
        ]
    finally:
        await conn.close()

    app = create_app(fast(settings, database_url=v31_dsn), dsn=v31_dsn)
    api = Api(await aiohttp_client(app))
    # The v3.1 token is refused; the client gets a new one, as OAuth clients do.
    response = await api.client.get("/api/orders", headers={"Authorization": f"Bearer {v31['v31_token']}"})
    assert response.status == 401
    token = await api.token(v31["client_id"], v31["client_secret"])
    headers = {"Authorization": f"Bearer {token}", KEY: "hook-v31", "Content-Type": "application/json"}
    response = await api.client.post("/api/webhooks", data=v31["request"], headers=headers)
    assert response.status == 201 and response.headers["Idempotent-Replayed"] == "true"
    assert await response.json() == v31["answer"]  # the stored answer, opened
    # The sender signs with the webhook's own key, as before the upgrade.
    response = await api.client.post(
        "/api/orders", json={"accountId": v31["account_id"]}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 201
    await eventually(lambda: _arrived(inbox, 1))
    assert [event["type"] for event in inbox.verified(v31["answer"]["secret"])] == ["order.created"]

