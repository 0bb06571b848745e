"""What the command line does to the rows that hold secrets: the migrate
command's step after the SQL migrations, and `rotate-secret-key`.

`after_migrations` runs on every `migrate` (and `serve` that migrates), under
the migration lock, once the schema has signing_keys (0011). It is idempotent:
it checks that SECRET_KEY opens what the database already holds, creates the
first signing key if there is none, and seals what a v3.1 database kept plain
(webhook signing keys, stored answers holding a webhook secret). Nothing here
could be SQL: only this process has the key.

`rotate` re-seals under the new SECRET_KEY everything sealed under another key
(OLD_SECRET_KEY opens it), in batches, each write guarded by the value it
replaces: safe while replicas serve (docs/how-to/secrets.md says in which order).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping

import asyncpg

from service.secretbox import (
    SIGNING_KEY,
    WEBHOOK_SECRET,
    SealBroken,
    SecretBox,
    SecretKeyUnavailable,
    answer_context,
    context,
    sealed_key_id,
)
from service.tokens import new_signing_key

logger = logging.getLogger(__name__)

# The migration that made signing_keys and the sealed webhook column.
SCHEMA_VERSION = 11
BATCH = 500


class KeyMismatch(RuntimeError):
    """SECRET_KEY (or OLD_SECRET_KEY) does not open what the database holds; one line for the operator."""


@dataclasses.dataclass(kw_only=True)
class Counts:
    signing_keys: int = 0
    webhooks: int = 0
    answers: int = 0

    def __str__(self) -> str:
        return (
            f"{self.signing_keys} signing key(s), {self.webhooks} webhook secret(s), "
            f"{self.answers} stored answer(s)"
        )


async def check_key(conn: asyncpg.Connection, queries: Mapping[str, str], box: SecretBox) -> None:
    """KeyMismatch unless `box` opens the current signing key (when there is one)."""
    row = await conn.fetchrow(queries["sealing_current_signing_key"])
    if row is None:
        return
    try:
        box.open(row["private_key"], context(SIGNING_KEY, row["kid"]))
    except SecretKeyUnavailable as exc:
        raise KeyMismatch(
            f"SECRET_KEY does not open this database's secrets: they are sealed under key id "
            f"{exc.key_id.hex()}, this process has {box.key_id.hex()}; start with the SECRET_KEY they "
            "were sealed with (during a rotation, the other one as OLD_SECRET_KEY)"
        ) from None
    except SealBroken as exc:
        raise KeyMismatch(f"the current signing key does not open: {exc}") from None


async def after_migrations(
    conn: asyncpg.Connection, queries: Mapping[str, str], box: SecretBox, *, version: int
) -> Counts:
    """The migrate command's step, under its lock; `version` is the schema's now."""
    counts = Counts()
    if version < SCHEMA_VERSION:
        return counts
    await check_key(conn, queries, box)
    kid, jwk, sealed = new_signing_key(box)
    if await conn.fetchval(queries["signing_key_create_first"], kid, json.dumps(jwk), sealed) is not None:
        counts.signing_keys = 1
        logger.info("the first token signing key was made", extra={"kid": kid})
    while rows := await conn.fetch(queries["sealing_plain_webhooks"], BATCH):
        for row in rows:
            ctx = context(WEBHOOK_SECRET, row["id"], row["reseller_id"])
            sealed = box.seal(bytes(row["plain_signing_key"]), ctx)
            args = (row["id"], row["reseller_id"], row["plain_signing_key"], sealed)
            counts.webhooks += await conn.fetchval(queries["sealing_seal_webhook"], *args) is not None
    while rows := await conn.fetch(queries["sealing_plain_answers"], BATCH):
        for row in rows:
            sealed = box.seal(bytes(row["body"]), _answer_context(row))
            args = (row["reseller_id"], row["digest"], row["body"], sealed)
            counts.answers += await conn.fetchval(queries["sealing_reseal_answer"], *args) is not None
    if counts.webhooks or counts.answers:
        logger.info("sealed the secrets a v3.1 database kept plain", extra=dataclasses.asdict(counts))
    return counts


async def rotate(conn: asyncpg.Connection, queries: Mapping[str, str], box: SecretBox) -> Counts:
    """Re-seal under box's SECRET_KEY everything sealed under another (which box must open)."""
    counts = Counts()
    kid = box.key_id
    while rows := await conn.fetch(queries["sealing_stale_signing_keys"], kid, BATCH):
        for row in rows:
            fresh = _reseal(box, row["private_key"], context(SIGNING_KEY, row["kid"]))
            args = (row["kid"], row["private_key"], fresh)
            counts.signing_keys += await conn.fetchval(queries["sealing_reseal_signing_key"], *args) is not None
    while rows := await conn.fetch(queries["sealing_stale_webhooks"], kid, BATCH):
        for row in rows:
            fresh = _reseal(box, row["signing_secret"], context(WEBHOOK_SECRET, row["id"], row["reseller_id"]))
            args = (row["id"], row["reseller_id"], row["signing_secret"], fresh)
            counts.webhooks += await conn.fetchval(queries["sealing_reseal_webhook"], *args) is not None
    while rows := await conn.fetch(queries["sealing_stale_answers"], kid, BATCH):
        for row in rows:
            fresh = _reseal(box, row["body"], _answer_context(row))
            args = (row["reseller_id"], row["digest"], row["body"], fresh)
            counts.answers += await conn.fetchval(queries["sealing_reseal_answer"], *args) is not None
    return counts


def _answer_context(row: asyncpg.Record) -> bytes:
    # As service.http.idempotency binds it: the stored answer's row.
    return answer_context(row["reseller_id"], row["digest"], row["client_id"], row["key"])


def _reseal(box: SecretBox, sealed: bytes, ctx: bytes) -> bytes:
    # A value that does not open stops the rotation: re-running it after fixing
    # OLD_SECRET_KEY carries on where it stopped, and nothing is lost meanwhile.
    try:
        return box.seal(box.open(sealed, ctx), ctx)
    except SecretKeyUnavailable as exc:
        raise KeyMismatch(
            f"a secret is sealed under key id {exc.key_id.hex()}, which is neither SECRET_KEY "
            f"({box.key_id.hex()}) nor OLD_SECRET_KEY; set OLD_SECRET_KEY to the key it was sealed with"
        ) from None
    except SealBroken as exc:
        raise KeyMismatch(f"{exc} (sealed under key id {sealed_key_id(sealed).hex()})") from None
