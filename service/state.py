"""Typed application keys: every shared resource is reached through one of these."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import aiohttp
import asyncpg
from aiohttp import web

from service.auth import CredentialCache, Principal, TokenSigner
from service.db import Database
from service.domain.services import Services
from service.execution.expiry import DraftExpiry
from service.execution.poller import Poller
from service.live.hub import Hub
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
DATABASE = web.AppKey("database", Database)
SERVICES = web.AppKey("services", Services)
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
HTTP_CLIENT = web.AppKey("http_client", aiohttp.ClientSession)
POLLER = web.AppKey("poller", Poller)
DRAFT_EXPIRY = web.AppKey("draft_expiry", DraftExpiry)
LIVE_HUB = web.AppKey("live_hub", Hub)

SIGNER = web.AppKey("signer", TokenSigner)
CREDENTIALS = web.AppKey("credentials", CredentialCache)

REQUEST_ID = web.RequestKey("request_id", str)
PRINCIPAL = web.RequestKey("principal", Principal)
