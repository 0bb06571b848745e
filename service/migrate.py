"""A locked, checksummed runner for sql/migrations/NNNN_snake_case.sql, and
after them, under the same lock, the Python step that seals secrets
(service.sealing: SQL cannot, it never sees SECRET_KEY)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from collections.abc import Mapping
from pathlib import Path

import asyncpg

from service import sealing
from service.secretbox import SecretBox

logger = logging.getLogger(__name__)

_FILE = re.compile(r"^(\d{4})_([a-z0-9]+(?:_[a-z0-9]+)*)\.sql$")
# Any fixed number works; it only has to be the same in every replica.
LOCK_KEY = 0x5E5E11E2_0001


class MigrationError(RuntimeError):
    """The migrations on disk and in the database disagree."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Migration:
    version: int
    name: str
    sql: str
    checksum: str

    @property
    def filename(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"


def discover(directory: Path) -> list[Migration]:
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        match = _FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_snake_case.sql")
        version = int(match.group(1))
        if version in migrations:
            raise MigrationError(f"{path.name}: version {version} is used twice")
        data = path.read_bytes()
        migrations[version] = Migration(
            version=version,
            name=match.group(2),
            sql=data.decode("utf-8"),
            checksum=hashlib.sha256(data).hexdigest(),
        )
    return [migrations[v] for v in sorted(migrations)]


def latest_version(migrations: list[Migration]) -> int:
    return migrations[-1].version if migrations else 0


async def migrate(
    conn: asyncpg.Connection, migrations: list[Migration], queries: Mapping[str, str], *, box: SecretBox
) -> list[Migration]:
    """Apply pending migrations in order, each in its own transaction, then seal
    what needs `box` (service.sealing); return the migrations applied."""
    await conn.execute(queries["migrations_lock"], LOCK_KEY)
    try:
        # Created under the lock: two concurrent CREATE TABLE IF NOT EXISTS can collide.
        await conn.execute(queries["migrations_create_table"])
        applied = {row["version"]: row for row in await conn.fetch(queries["migrations_applied"])}
        on_disk = {m.version: m for m in migrations}
        for version, row in applied.items():
            migration = on_disk.get(version)
            if migration is None:
                raise MigrationError(
                    f"migration {version:04d}_{row['name']}.sql is applied but missing on disk"
                )
            if migration.checksum != row["checksum"]:
                raise MigrationError(
                    f"{migration.filename} was edited after it was applied; "
                    "add a new migration instead of changing a landed one"
                )
        done = []
        for migration in migrations:
            if migration.version in applied:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    queries["migrations_record"], migration.version, migration.name, migration.checksum
                )
            logger.info("migration applied", extra={"migration": migration.filename})
            done.append(migration)
        version = max([*applied, *(m.version for m in done)], default=0)
        try:
            await sealing.after_migrations(conn, queries, box, version=version)
        except sealing.KeyMismatch as exc:
            raise MigrationError(str(exc)) from None
        return done
    finally:
        await conn.execute(queries["migrations_unlock"], LOCK_KEY)
