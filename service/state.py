"""Typed application keys: every shared resource is reached through one of these."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import aiohttp
import asyncpg
from aiohttp import web
from aiohttp.abc import AbstractResolver

from service.auth import CredentialCache, Principal, TokenSigner
from service.db import Database
from service.domain.services import Services
from service.domain.webhooks import UrlCheck
from service.execution.expiry import DraftExpiry, IdempotencyKeyPurge
from service.execution.poller import Poller
from service.execution.webhook_dispatcher import WebhookDispatcher
from service.execution.webhook_sender import WebhookSender
from service.http.ratelimit import RateLimiter, TokenBrake, Verdict
from service.live.hub import Hub
from service.metrics import Metrics
from service.secretbox import SecretBox
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
KEY_PURGE = web.AppKey("idempotency_key_purge", IdempotencyKeyPurge)
# Resolves webhook hosts; tests set their own before the app starts.
WEBHOOK_RESOLVER = web.AppKey("webhook_resolver", AbstractResolver)
WEBHOOK_CLIENT = web.AppKey("webhook_client", aiohttp.ClientSession)
WEBHOOK_DISPATCHER = web.AppKey("webhook_dispatcher", WebhookDispatcher)
WEBHOOK_SENDER = web.AppKey("webhook_sender", WebhookSender)
LIVE_HUB = web.AppKey("live_hub", Hub)

# None when turned off (METRICS_ENABLED=false, RATE_LIMIT_PER_MINUTE=0).
METRICS = web.AppKey("metrics", Metrics | None)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter | None)
TOKEN_BRAKE = web.AppKey("token_brake", TokenBrake)
# Failed operator authentications per client address (service.http.access).
OPERATOR_BRAKE = web.AppKey("operator_brake", TokenBrake)
# Seals and opens every key and secret kept in the database.
SECRET_BOX = web.AppKey("secret_box", SecretBox)

SIGNER = web.AppKey("signer", TokenSigner)
CREDENTIALS = web.AppKey("credentials", CredentialCache)

REQUEST_ID = web.RequestKey("request_id", str)
PRINCIPAL = web.RequestKey("principal", Principal)
RATE_LIMIT = web.RequestKey("rate_limit", Verdict)
# A webhook URL resolved and judged before a keyed request's transaction opened.
URL_CHECKED = web.RequestKey("url_checked", UrlCheck)
