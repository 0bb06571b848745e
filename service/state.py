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
from service.http.ratelimit import RateLimiter, TokenBrake, Verdict
from service.metrics import Metrics
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

# None when turned off (METRICS_ENABLED=false, RATE_LIMIT_PER_MINUTE=0).
METRICS = web.AppKey("metrics", Metrics | None)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter | None)
TOKEN_BRAKE = web.AppKey("token_brake", TokenBrake)

SIGNER = web.AppKey("signer", TokenSigner)
CREDENTIALS = web.AppKey("credentials", CredentialCache)

REQUEST_ID = web.RequestKey("request_id", str)
PRINCIPAL = web.RequestKey("principal", Principal)
RATE_LIMIT = web.RequestKey("rate_limit", Verdict)
