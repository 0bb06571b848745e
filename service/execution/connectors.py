"""Fulfillment connectors: how one step of provisioning an item is taken.

A step is one outbound call at most: submit the item (no operation yet) or
ask how its operation is doing. A connector answers with an Outcome, or raises
RetryableError when the same step is worth trying again later (network
errors, timeouts, 5xx, 429). Anything else a connector says that does not
follow the protocol fails the item with a message; it never raises.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp

logger = logging.getLogger(__name__)

IN_PROGRESS = "In Progress"
COMPLETED = "Completed"
FAILED = "Failed"
_MESSAGE_MAX = 500
_BODY_MAX = 64 * 1024


class RetryableError(Exception):
    """The connector could not be reached or was unavailable; try the step again later."""


PURCHASE = "purchase"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Work:
    """One claimed item, as the connector needs it."""

    item_id: int
    order_id: int
    account_id: int
    sku: str
    quantity: int
    billing_cycle: str
    characteristics: Mapping[str, Any]
    operation_id: str | None
    action: str = PURCHASE  # purchase, changeQuantity or cancel (service.lifecycle.ITEM_ACTIONS)
    # For a change: the subscription as the connector knows it (its own id when it gave one, else ours).
    subscription_id: str | None = None

    @property
    def changes(self) -> bool:
        return self.action != PURCHASE

    def provisioning_request(self) -> dict[str, Any]:
        body = {
            "orderId": self.order_id,
            "itemId": self.item_id,
            "accountId": self.account_id,
            "sku": self.sku,
            "quantity": self.quantity,
            "billingCycle": self.billing_cycle,
            "characteristics": dict(self.characteristics),
            "action": self.action,
        }
        if self.changes:
            body["subscriptionId"] = self.subscription_id
        return body


@dataclasses.dataclass(frozen=True, kw_only=True)
class Outcome:
    status: str
    operation_id: str | None = None
    subscription_id: str | None = None
    message: str | None = None


def failed(message: str) -> Outcome:
    return Outcome(status=FAILED, message=message[:_MESSAGE_MAX])


class Connector(Protocol):
    async def advance(self, work: Work) -> Outcome: ...


class InstantConnector:
    """Products with nothing external to set up: the item is done at once."""

    async def advance(self, work: Work) -> Outcome:
        if work.changes:
            return Outcome(status=COMPLETED)  # the subscription keeps the id it has
        return Outcome(status=COMPLETED, subscription_id=f"sub-{work.item_id}")


class HttpConnector:
    """The contract's fulfillment protocol against one connector base URL."""

    def __init__(self, *, session: aiohttp.ClientSession, url: str) -> None:
        self._session = session
        self._url = url.rstrip("/")

    async def advance(self, work: Work) -> Outcome:
        if work.operation_id is None:
            return await self._submit(work)
        return await self._check(work)

    async def _submit(self, work: Work) -> Outcome:
        # The key is derived from the item alone, so a resubmission after a
        # crash or a lost answer is recognised by the connector and provisions nothing new.
        status, body = await self._call(
            "POST",
            f"{self._url}/provisioning",
            json=work.provisioning_request(),
            headers={"Idempotency-Key": f"item-{work.item_id}"},
        )
        if status not in (200, 201, 202):
            return failed(f"the connector refused the provisioning request with HTTP {status}{_detail(body)}")
        operation_id = body.get("operationId") if isinstance(body, dict) else None
        if isinstance(operation_id, int) and not isinstance(operation_id, bool):
            operation_id = str(operation_id)
        if not isinstance(operation_id, str) or not operation_id.strip() or len(operation_id) > 200:
            return failed("the connector accepted the request but answered without a usable operationId")
        return Outcome(status=IN_PROGRESS, operation_id=operation_id)

    async def _check(self, work: Work) -> Outcome:
        status, body = await self._call("GET", f"{self._url}/provisioning/{_path_segment(work.operation_id)}")
        if status == 404:
            return failed(f"the connector does not know operation {work.operation_id!r}")
        if status != 200:
            return failed(f"the connector answered HTTP {status} about operation {work.operation_id!r}")
        if not isinstance(body, dict):
            return failed("the connector's progress answer is not a JSON object")
        state = body.get("status")
        message = body.get("message")
        if message is not None and not isinstance(message, str):
            return failed("the connector's progress answer has a message that is not text")
        if state == IN_PROGRESS:
            return Outcome(status=IN_PROGRESS, message=message)
        if state == FAILED:
            return failed(message or "the connector reported that provisioning failed")
        if state == COMPLETED:
            subscription = body.get("subscriptionId")
            usable = (
                isinstance(subscription, str | int)
                and not isinstance(subscription, bool)
                and bool(str(subscription).strip())
                and len(str(subscription)) <= 200
            )
            if usable:
                return Outcome(status=COMPLETED, subscription_id=str(subscription), message=message)
            if work.changes and subscription is None:
                # A change completes the subscription the connector already knows: no new id needed.
                return Outcome(status=COMPLETED, message=message)
            return failed("the connector reported Completed without a usable subscriptionId")
        return failed(f"the connector answered an unknown status {str(state)[:50]!r}")

    async def _call(self, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
        """(status, parsed JSON or None); RetryableError for what may pass."""
        try:
            async with self._session.request(method, url, **kwargs) as response:
                if response.status >= 500 or response.status in (408, 429):
                    raise RetryableError(f"the connector answered HTTP {response.status}")
                raw = await response.content.read(_BODY_MAX + 1)
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableError(f"the connector could not be reached: {_describe(exc)}") from None
        if len(raw) > _BODY_MAX:
            return status, None
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None


def _path_segment(value: str | None) -> str:
    return quote(value or "", safe="")


def _detail(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("detail", "message", "title"):
            if isinstance(body.get(key), str):
                return f": {body[key][:200]}"
    return ""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def connector_for(fulfillment: Any, *, session: aiohttp.ClientSession) -> Connector | Outcome:
    """The connector a product's fulfillment asks for, or a Failed outcome saying why there is none."""
    kind = fulfillment.get("type") if isinstance(fulfillment, dict) else None
    if kind == "instant":
        return InstantConnector()
    if kind == "http":
        url = fulfillment.get("url")
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            return HttpConnector(session=session, url=url)
        return failed("the product's fulfillment has no usable http url")
    return failed(f"the product's fulfillment type {str(kind)[:50]!r} is not supported")
