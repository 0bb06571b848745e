"""Typed application keys: every shared resource is reached through one of these."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import asyncpg
from aiohttp import web

from service.auth import CredentialCache, Principal, TokenSigner
from service.settings import Settings


@dataclasses.dataclass(kw_only=True)
class Lifecycle:
    """Mutable process state the health probes read."""

    stopping: bool = False
    migrations_latest: int = 0


SETTINGS = web.AppKey("settings", Settings)
DSN = web.AppKey("dsn", str)
QUERIES = web.AppKey("queries", Mapping)
POOL = web.AppKey("pool", asyncpg.Pool)
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)

SIGNER = web.AppKey("signer", TokenSigner)
CREDENTIALS = web.AppKey("credentials", CredentialCache)

REQUEST_ID = web.RequestKey("request_id", str)
PRINCIPAL = web.RequestKey("principal", Principal)
