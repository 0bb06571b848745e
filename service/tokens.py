"""Access tokens: JWTs (RFC 7519) signed with Ed25519 (`EdDSA`), verified by `kid`.

Claims: `sub` (the clientId), `scope` (space-separated), `iat`, `exp`. The
signing keys live in the table signing_keys, shared by every replica: the
public half as a JWK (served at /.well-known/jwks.json, so a gateway verifies
tokens without any secret), the private half sealed with SECRET_KEY
(service.secretbox). The newest key signs; every key in the table verifies;
a deleted key's tokens are refused.

Verifying a signature and decoding JSON costs a measurable share of a
primary-key read, so a token verified once is kept in a dict until it
expires: a request pays one lookup. Each process reads the key set again every
KEY_REFRESH_SECONDS (and at once when a token names a key it has not seen, at
most once a second), and forgets the tokens of any key that left the set, so a
deleted key's tokens answer 401 on every replica within that interval.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.errors import Unauthorized
from service.secretbox import SIGNING_KEY, SecretBox, SecretKeyUnavailable, context

logger = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
KEY_REFRESH_SECONDS = 2.0
# A token naming a key this process has not seen reloads the key set at most this often.
UNKNOWN_KID_REFRESH_SECONDS = 1.0
VERIFIED_MAX_ENTRIES = 100_000
_REQUIRED = {"require": ["sub", "scope", "iat", "exp"]}


class UnknownSigningKey(Unauthorized):
    """Authentication required"""

    # A token whose kid is not in this process's key set (just made elsewhere, or
    # deleted): the caller may read the set again. The client sees a plain 401.


class ExpiredToken(Unauthorized):
    """Authentication required"""

    # A token past its exp (an open event stream ends saying so). The client sees a plain 401.


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_jwk(public: Ed25519PublicKey) -> dict[str, str]:
    """The RFC 7517 JWK of a public key; its kid is the RFC 7638 thumbprint."""
    x = _b64(public.public_bytes_raw())
    members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True)
    kid = _b64(hashlib.sha256(members.encode()).digest())
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": ALGORITHM, "use": "sig"}


def new_signing_key(box: SecretBox) -> tuple[str, dict[str, str], bytes]:
    """A fresh key pair as a signing_keys row: (kid, public JWK, sealed private key)."""
    private = Ed25519PrivateKey.generate()
    jwk = public_jwk(private.public_key())
    sealed = box.seal(private.private_bytes_raw(), context(SIGNING_KEY, jwk["kid"]))
    return jwk["kid"], jwk, sealed


class TokenSigner:
    """Issues and verifies access tokens with the key set it last read.

    `rows` reads the key set: rows of (kid, public_jwk, private_key, current),
    with the sealed private key on the current row (the others may be NULL)."""

    def __init__(
        self,
        *,
        ttl_seconds: int,
        box: SecretBox,
        rows: Callable[[], Awaitable[Sequence[Mapping[str, Any]]]] | None = None,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self._box = box
        self._rows = rows
        self._verifying: dict[str, Ed25519PublicKey] = {}
        self._signing: tuple[str, Ed25519PrivateKey] | None = None
        # token -> (client id, expiry, scopes, kid)
        self._verified: dict[str, tuple[str, int, frozenset[str], str]] = {}
        self._loading: asyncio.Future | None = None
        self._asked_at = float("-inf")

    @property
    def ready(self) -> bool:
        return self._signing is not None

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._verifying)

    def issue(self, client_id: str, scopes: Iterable[str]) -> str:
        if self._signing is None:
            raise RuntimeError("no signing key loaded")
        kid, private = self._signing
        now = int(time.time())
        claims = {"sub": client_id, "scope": " ".join(scopes), "iat": now, "exp": now + self.ttl_seconds}
        return jwt.encode(claims, private, algorithm=ALGORITHM, headers={"kid": kid})

    def verify(self, token: str) -> tuple[str, frozenset[str]]:
        """The client id and granted scopes of a valid, unexpired token."""
        known = self._verified.get(token)
        if known is not None and known[1] >= time.time():
            return known[0], known[2]
        entry = self._check(token)
        if len(self._verified) >= VERIFIED_MAX_ENTRIES:
            self._verified.clear()  # a crude bound; live tokens re-verify once
        self._verified[token] = entry
        return entry[0], entry[2]

    def _check(self, token: str) -> tuple[str, int, frozenset[str], str]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            # Tokens of the v3.1 format (payload.signature) end here too.
            raise Unauthorized("The access token is not valid") from None
        key = self._verifying.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise UnknownSigningKey("The access token is not valid")
        try:
            claims = jwt.decode(token, key, algorithms=[ALGORITHM], options=_REQUIRED)
        except jwt.ExpiredSignatureError:
            raise ExpiredToken("The access token has expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("The access token is not valid") from None
        client_id, scope, expires = claims["sub"], claims["scope"], claims["exp"]
        if not isinstance(client_id, str) or not isinstance(scope, str) or not isinstance(expires, int):
            raise Unauthorized("The access token is not valid")
        return client_id, expires, frozenset(scope.split()), kid

    def load(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Take the key set as the database has it now."""
        verifying = {
            row["kid"]: self._verifying.get(row["kid"])
            or Ed25519PublicKey.from_public_bytes(_unb64(_jwk(row["public_jwk"])["x"]))
            for row in rows
        }
        current = next((row for row in rows if row["current"]), None)
        if current is not None and (self._signing is None or self._signing[0] != current["kid"]):
            try:
                raw = self._box.open(current["private_key"], context(SIGNING_KEY, current["kid"]))
                self._signing = (current["kid"], Ed25519PrivateKey.from_private_bytes(raw))
            except SecretKeyUnavailable as exc:
                # A rotation of SECRET_KEY under way: sign on with the key held, while it lasts.
                logger.warning(
                    "the current signing key is sealed under another SECRET_KEY; signing with the previous key",
                    extra={"kid": current["kid"], "secret_key_id": exc.key_id.hex()},
                )
        if self._signing is not None and self._signing[0] not in verifying:
            self._signing = None
        gone = self._verifying.keys() - verifying.keys()
        self._verifying = verifying
        if gone:
            self._verified = {token: entry for token, entry in self._verified.items() if entry[3] not in gone}
            logger.info("signing keys removed: their tokens are refused", extra={"kids": sorted(gone)})

    async def refresh(self) -> None:
        """Read the key set again (one read at a time: concurrent callers share it)."""
        if self._rows is None:
            return
        if self._loading is not None:
            await asyncio.shield(self._loading)
            return
        self._loading = future = asyncio.get_running_loop().create_future()
        try:
            self.load(await self._rows())
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody may be waiting
            raise
        finally:
            self._loading = None

    async def refresh_for_unknown_kid(self) -> None:
        """refresh() for a token naming a key not in the set: a key just made on another
        replica, or a made-up one, so at most once every UNKNOWN_KID_REFRESH_SECONDS."""
        now = time.monotonic()
        if now - self._asked_at < UNKNOWN_KID_REFRESH_SECONDS:
            return
        self._asked_at = now
        await self.refresh()


def _jwk(value: Any) -> Mapping[str, str]:
    return json.loads(value) if isinstance(value, str) else value
