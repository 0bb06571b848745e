"""A reseller's webhooks: subscriptions to its order events, and what became of
each delivery. Sending is the jobs' work (service.execution.webhook_dispatcher
and webhook_sender); this is what the /api/webhooks routes do."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp.abc import AbstractResolver

from service.auth import Principal
from service.db import Database
from service.domain import representations as rep
from service.errors import FieldError, NotFound, UrlNotAllowed, WebhookDisabled, WebhookLimitReached
from service.lifecycle import EVENT_TYPES
from service.secretbox import WEBHOOK_SECRET, SecretBox, context
from service.webhooks import addresses, signing


def webhook(row: Mapping[str, Any]) -> dict:
    types = row["event_types"]
    return {
        "id": row["id"],
        "url": row["url"],
        "eventTypes": list(EVENT_TYPES) if types is None else list(types),
        "description": row["description"],
        "enabled": row["enabled"],
        "createdAt": rep.timestamp(row["created_at"]),
    }


def delivery(row: Mapping[str, Any]) -> dict:
    return {
        "id": row["id"],
        "eventId": f"evt_{row['event_id']}",
        "eventType": row["event_type"],
        "status": row["state"],
        "attempts": row["attempts"],
        "lastAttemptAt": rep.timestamp(row["last_attempt_at"]),
        "lastResponseStatus": row["last_response_status"],
        "lastError": row["last_error"],
        "nextAttemptAt": rep.timestamp(row["next_attempt_at"]),
    }


def _types(wanted: Sequence[str] | None) -> list[str] | None:
    """Stored in the lifecycle's order, once each; None stays None: every type, new ones too."""
    return None if wanted is None else [t for t in EVENT_TYPES if t in set(wanted)]


@dataclasses.dataclass(frozen=True, kw_only=True)
class UrlCheck:
    """What vetting a URL found: None, or why it is refused. Made before a keyed
    request's transaction opens, so no connection waits on DNS (`check_url`)."""

    url: str
    refusal: str | None


def secret_context(webhook_id: int, reseller_id: int) -> bytes:
    """What a webhook's sealed signing key is bound to: its row."""
    return context(WEBHOOK_SECRET, webhook_id, reseller_id)


class Webhooks:
    def __init__(
        self,
        *,
        db: Database,
        resolver: AbstractResolver,
        allow_private: bool,
        per_reseller: int,
        box: SecretBox,
    ) -> None:
        self._db = db
        self._resolver = resolver
        self._allow_private = allow_private
        self._per_reseller = per_reseller
        self._box = box

    async def check_url(self, url: str) -> UrlCheck:
        """Resolve and judge a URL; hold no database connection while calling this."""
        try:
            await addresses.vet(url, resolver=self._resolver, allow_private=self._allow_private)
        except addresses.UrlRefused as exc:
            return UrlCheck(url=url, refusal=str(exc))
        return UrlCheck(url=url, refusal=None)

    async def _vet(self, url: str, checked: UrlCheck | None) -> None:
        if checked is None or checked.url != url:
            checked = await self.check_url(url)
        if checked.refusal is not None:
            raise UrlNotAllowed(
                f"url: {checked.refusal}", errors=[FieldError("url", UrlNotAllowed.code, checked.refusal)]
            )

    async def create(self, who: Principal, data: Mapping[str, Any], *, checked: UrlCheck | None = None) -> dict:
        """The new webhook, with its secret: the only answer that ever shows it.
        At most WEBHOOKS_PER_RESELLER: the count is taken under the reseller's lock,
        so creates racing each other cannot pass it together."""
        await self._vet(data["url"], checked)
        key = signing.new_key()
        async with self._db.transaction():
            await self._db.fetchval("webhook_quota_lock", who.reseller_id)
            # The id first: the sealed key is bound to its row.
            webhook_id = await self._db.fetchval("webhook_next_id")
            row = await self._db.fetchrow(
                "webhook_create",
                who.reseller_id,
                data["url"],
                _types(data.get("eventTypes")),
                data.get("description"),
                data.get("enabled", True),
                self._box.seal(key, secret_context(webhook_id, who.reseller_id)),
                webhook_id,
                self._per_reseller,
            )
        if row is None:
            raise WebhookLimitReached(
                f"This reseller has {self._per_reseller} webhooks, as many as it may; delete one first"
            )
        return {**webhook(row), "secret": signing.secret_of(key)}

    def secret(self, webhook_id: int, reseller_id: int, sealed: bytes) -> str:
        """The whsec_ secret of a webhook row (the demo hands it to its receiver)."""
        return signing.secret_of(self._box.open(sealed, secret_context(webhook_id, reseller_id)))

    async def page(self, who: Principal, *, after: int | None, size: int) -> list[dict]:
        rows = await self._db.fetch("webhooks_page", who.reseller_id, after, size)
        return [webhook(row) for row in rows]

    async def get(self, who: Principal, webhook_id: int) -> dict:
        row = await self._db.fetchrow("webhook_get", webhook_id, who.reseller_id)
        if row is None:
            raise NotFound()
        return webhook(row)

    async def require_visible(self, who: Principal, webhook_id: int) -> None:
        await self.get(who, webhook_id)

    async def change(
        self, who: Principal, webhook_id: int, data: Mapping[str, Any], *, checked: UrlCheck | None = None
    ) -> dict:
        if "url" in data:
            # Another reseller's webhook is missing before its new URL is judged.
            await self.require_visible(who, webhook_id)
            await self._vet(data["url"], checked)
        row = await self._db.fetchrow(
            "webhook_patch",
            webhook_id,
            who.reseller_id,
            data.get("url"),
            "eventTypes" in data,
            _types(data.get("eventTypes")),
            "description" in data,
            data.get("description"),
            data.get("enabled"),
        )
        if row is None:
            raise NotFound()
        return webhook(row)

    async def delete(self, who: Principal, webhook_id: int) -> None:
        if await self._db.fetchval("webhook_delete", webhook_id, who.reseller_id) is None:
            raise NotFound()

    async def deliveries(
        self, who: Principal, webhook_id: int, *, before: int | None, size: int
    ) -> list[dict]:
        await self.require_visible(who, webhook_id)
        rows = await self._db.fetch("webhook_deliveries_page", webhook_id, who.reseller_id, before, size)
        return [delivery(row) for row in rows]

    async def require_delivery(self, who: Principal, webhook_id: int, delivery_id: int) -> None:
        if await self._db.fetchrow("webhook_delivery_get", webhook_id, delivery_id, who.reseller_id) is None:
            raise NotFound()

    async def retry(self, who: Principal, webhook_id: int, delivery_id: int) -> dict:
        """Due now; 409 while the webhook is disabled (enable it first)."""
        row = await self._db.fetchrow("webhook_delivery_retry", webhook_id, delivery_id, who.reseller_id)
        if row is not None:
            return delivery(row)
        found = await self._db.fetchrow("webhook_delivery_get", webhook_id, delivery_id, who.reseller_id)
        if found is None:
            raise NotFound()
        raise WebhookDisabled("The webhook is disabled: enable it (PATCH enabled=true) to deliver again")
