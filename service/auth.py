"""Reseller access tokens, the operator token, and who may call what.

Access tokens are JWTs signed with keys every replica reads from the database
(service.tokens), so verifying one needs no database. What can change under a
live token — a revoked credential, an edition change — is read through a
small per-client cache whose entries live CREDENTIAL_TTL_SECONDS, well inside
the contract's 5 s bound.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import secrets
import time

from aiohttp import web

from service.db import Database
from service.errors import EditionNotPermitted, InsufficientScope, ServiceError, Unauthorized
from service.tokens import TokenSigner, UnknownSigningKey

CREDENTIAL_TTL_SECONDS = 2.0
CACHE_MAX_ENTRIES = 50_000

READ = "orders:read"
WRITE = "orders:write"
APPROVE = "orders:approve"
SCOPES = (READ, WRITE, APPROVE)
ALL_SCOPES = frozenset(SCOPES)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Permission:
    """What a call needs: a scope, and for changes the Standard edition."""

    scope: str
    standard_only: bool


READS = Permission(scope=READ, standard_only=False)
WRITES = Permission(scope=WRITE, standard_only=True)
APPROVES = Permission(scope=APPROVE, standard_only=True)
# Both editions may manage webhooks (the contract's Webhooks section).
MANAGES_WEBHOOKS = Permission(scope=WRITE, standard_only=False)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Principal:
    client_id: str
    reseller_id: int
    edition: str
    scopes: frozenset[str] = ALL_SCOPES

    def denial(self, permission: Permission) -> ServiceError | None:
        """Why this caller may not make the call, or None. Edition first: a Free
        reseller asking for a write hears about its edition, whatever its scopes."""
        if permission.standard_only and self.edition != "Standard":
            return EditionNotPermitted(f"The {self.edition} edition may only read")
        if permission.scope not in self.scopes:
            return InsufficientScope(permission.scope)
        return None

    def narrowed(self, scopes: frozenset[str]) -> Principal:
        """This principal as a token granted only `scopes` may act."""
        if scopes >= self.scopes:
            return self
        return dataclasses.replace(self, scopes=self.scopes & scopes)


def hash_secret(secret: str) -> str:
    # Secrets are 256-bit random strings we generate, not passwords people
    # choose, so a fast hash is enough; a slow KDF would only cost latency.
    return hashlib.sha256(secret.encode()).hexdigest()


def new_credentials() -> tuple[str, str]:
    return f"ro_{secrets.token_hex(8)}", secrets.token_urlsafe(32)


class CredentialCache:
    """client_id -> what its tokens may do, refreshed after CREDENTIAL_TTL_SECONDS."""

    def __init__(self, *, db: Database, ttl: float = CREDENTIAL_TTL_SECONDS) -> None:
        self._db = db
        self._ttl = ttl
        self._entries: dict[str, tuple[float, Principal | None]] = {}
        self._loading: dict[str, asyncio.Future] = {}

    async def get(self, client_id: str) -> Principal | None:
        entry = self._entries.get(client_id)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        # Concurrent requests of one client share a single lookup.
        loading = self._loading.get(client_id)
        if loading is not None:
            return await asyncio.shield(loading)
        future = asyncio.get_running_loop().create_future()
        self._loading[client_id] = future
        try:
            row = await self._db.fetchrow("credential_state", client_id)
            principal = (
                None
                if row is None
                else Principal(
                    client_id=client_id,
                    reseller_id=row["reseller_id"],
                    edition=row["edition"],
                    scopes=frozenset(row["scopes"]),
                )
            )
            if len(self._entries) >= CACHE_MAX_ENTRIES:
                self._entries.pop(next(iter(self._entries)))
            self._entries[client_id] = (time.monotonic() + self._ttl, principal)
            future.set_result(principal)
            return principal
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # marked retrieved: a future nobody awaited must not warn
            raise
        finally:
            if not future.done():
                future.cancel()
            del self._loading[client_id]


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate_reseller(
    request: web.Request, *, signer: TokenSigner, cache: CredentialCache
) -> Principal:
    token = bearer(request)
    if token is None:
        raise Unauthorized("A bearer access token is required")
    try:
        client_id, scopes = signer.verify(token)
    except UnknownSigningKey:
        # A key made on another replica a moment ago, or one that was deleted.
        await signer.refresh_for_unknown_kid()
        client_id, scopes = signer.verify(token)
    principal = await cache.get(client_id)
    if principal is None:
        raise Unauthorized("The credential of this token was revoked")
    return principal.narrowed(scopes)


def authenticate_operator(request: web.Request, *, admin_token: str) -> None:
    token = bearer(request)
    if token is None or not hmac.compare_digest(token.encode(), admin_token.encode()):
        raise Unauthorized("The operator token is required")
