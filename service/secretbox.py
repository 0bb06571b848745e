"""Secrets at rest: every private key and secret the database keeps goes through here.

A value is sealed with AES-256-GCM under SECRET_KEY (32 random bytes, never in
the database) and stored as

    0x00 0x01 | key id (8 bytes) | nonce (12 bytes) | ciphertext and tag

The leading NUL tells a sealed value from a plain one where a column holds
both (a stored answer is JSON or empty, and JSON never starts with NUL); the
version byte leaves room for another format; the key id (derived from the key,
so it tells nothing about it) says which SECRET_KEY sealed it, so a rotation
finds what is still under the old one and a process that lacks that key says
so instead of failing to authenticate. The associated data is the value's
*context*: what it is and which row holds it (`context("webhooks.signing_secret",
webhook_id, reseller_id)`), so a sealed value copied into another row, or
another column, does not open.

A copy of the database alone therefore signs no token and forges no webhook.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from service.errors import ServiceUnavailable
from service.settings import SECRET_KEY_BYTES as KEY_BYTES
from service.settings import parse_key

KEY_ID_BYTES = 8
NONCE_BYTES = 12
MARK = b"\x00\x01"  # sealed, format 1
HEADER_BYTES = len(MARK) + KEY_ID_BYTES + NONCE_BYTES
# Where the embedded default keeps the key it generated, inside DATA_DIR.
KEY_FILE = "secret_key"

# What each sealed column holds: the first part of every context.
SIGNING_KEY = "signing_keys.private_key"
WEBHOOK_SECRET = "webhooks.signing_secret"
STORED_ANSWER = "idempotency_keys.body"


class SecretKeyUnavailable(ServiceUnavailable):
    """A secret was sealed under a SECRET_KEY this process does not have"""

    code = "secret_key_unavailable"

    def __init__(self, key_id: bytes) -> None:
        super().__init__(
            f"A secret this request needs was sealed under SECRET_KEY id {key_id.hex()}, which this "
            "replica does not have (a key rotation is under way); try again in a moment",
            headers={"Retry-After": "5"},
        )
        self.key_id = key_id


class SealBroken(ValueError):
    """A sealed value that does not open: altered, truncated, or moved from another row."""


def key_text(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def key_id(key: bytes) -> bytes:
    """Which key sealed a value: a one-way digest of the key, safe to store beside it."""
    return hashlib.sha256(b"reseller-ordering secret key id\x00" + key).digest()[:KEY_ID_BYTES]


def context(purpose: str, *row: object) -> bytes:
    """The associated data of one sealed value: its column and the row that holds it."""
    return "\x00".join((purpose, *(str(part) for part in row))).encode()


def answer_context(reseller_id: int, digest: bytes, client_id: str | None, key: str | None) -> bytes:
    """The context of a stored answer (idempotency_keys.body, service.http.idempotency):
    a row stored before migration 0013 is bound by its clientId and key, one stored
    since (which has neither) by its key's digest."""
    if client_id is None:
        return context(STORED_ANSWER, reseller_id, bytes(digest).hex())
    return context(STORED_ANSWER, reseller_id, client_id, key)


def is_sealed(value: bytes) -> bool:
    return value[: len(MARK)] == MARK and len(value) >= HEADER_BYTES + 16


def sealed_key_id(value: bytes) -> bytes:
    return bytes(value[len(MARK) : len(MARK) + KEY_ID_BYTES])


class SecretBox:
    """Seals with SECRET_KEY; opens what it or OLD_SECRET_KEY sealed."""

    def __init__(self, key: bytes, *, old: bytes | None = None) -> None:
        self.key_id = key_id(key)
        self._seal = AESGCM(key)
        self._open = {self.key_id: self._seal}
        if old is not None and key_id(old) != self.key_id:
            self._open[key_id(old)] = AESGCM(old)

    def seal(self, plain: bytes, ctx: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return MARK + self.key_id + nonce + self._seal.encrypt(nonce, plain, ctx)

    def open(self, sealed: bytes, ctx: bytes) -> bytes:
        sealed = bytes(sealed)
        if not is_sealed(sealed):
            raise SealBroken("not a sealed value")
        kid = sealed_key_id(sealed)
        cipher = self._open.get(kid)
        if cipher is None:
            raise SecretKeyUnavailable(kid)
        try:
            return cipher.decrypt(sealed[HEADER_BYTES - NONCE_BYTES : HEADER_BYTES], sealed[HEADER_BYTES:], ctx)
        except InvalidTag:
            purpose = ctx.partition(b"\x00")[0].decode()
            raise SealBroken(f"a sealed {purpose} does not open") from None

    def opens(self, sealed: bytes) -> bool:
        """Whether this box has the key `sealed` was sealed under."""
        return sealed_key_id(bytes(sealed)) in self._open


def kept_key(data_dir: Path) -> bytes:
    """The embedded default's key: read from DATA_DIR/secret_key, or generated there
    (mode 0600) on the first start. Back this file up with the data directory."""
    path = data_dir / KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return parse_key(path.read_text(encoding="ascii"), name=str(path))
    with os.fdopen(fd, "w", encoding="ascii") as file:
        key = secrets.token_bytes(KEY_BYTES)
        file.write(key_text(key) + "\n")
    return key


def keep_key(data_dir: Path, key: bytes) -> None:
    """Replace the kept key (after rotate-secret-key), atomically, mode 0600."""
    path = data_dir / KEY_FILE
    spare = path.with_name(KEY_FILE + ".new")
    fd = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(key_text(key) + "\n")
    os.replace(spare, path)
