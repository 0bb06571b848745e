"""Standard Webhooks signatures (https://www.standardwebhooks.com).

A secret is `whsec_` + base64 of random bytes; those bytes are the HMAC-SHA256
key. A delivery carries `webhook-id`, `webhook-timestamp` (Unix seconds of the
attempt) and `webhook-signature: v1,<base64 of HMAC(key, "{id}.{timestamp}.{body}")>`.
Receivers verify with any Standard Webhooks library; `verify` here is what the
service's own receiver (`python -m service webhook-receiver`) uses.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

PREFIX = "whsec_"
KEY_BYTES = 32
# Standard Webhooks' default tolerance for the timestamp, against replays.
TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """A delivery whose headers or signature do not verify."""


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def secret_of(key: bytes) -> str:
    return PREFIX + base64.b64encode(key).decode("ascii")


def key_of(secret: str) -> bytes:
    raw = secret.removeprefix(PREFIX)
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the secret is not whsec_ followed by base64") from None
    if not key:
        raise SignatureError("the secret is empty")
    return key


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = b"%s.%d.%s" % (message_id.encode(), timestamp, body)
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def headers(key: bytes, message_id: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The three headers of one attempt; the timestamp is the attempt's own."""
    at = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(at),
        "webhook-signature": signature(key, message_id, at, body),
    }


def verify(key: bytes, received: Mapping[str, str], body: bytes, *, now: float | None = None) -> str:
    """The message id when one of the `v1` signatures matches and the timestamp is
    within the tolerance; SignatureError otherwise."""
    lower = {name.lower(): value for name, value in received.items()}
    message_id = lower.get("webhook-id", "")
    raw_timestamp = lower.get("webhook-timestamp", "")
    signatures = lower.get("webhook-signature", "")
    if not (message_id and raw_timestamp and signatures):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not raw_timestamp.isdigit():
        raise SignatureError("webhook-timestamp is not Unix seconds")
    timestamp = int(raw_timestamp)
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError("webhook-timestamp is too far from now")
    expected = signature(key, message_id, timestamp, body)
    for candidate in signatures.split():
        if candidate.startswith("v1,") and hmac.compare_digest(candidate, expected):
            return message_id
    raise SignatureError("no signature matches")
