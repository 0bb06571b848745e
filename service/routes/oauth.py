"""POST /oauth/token: client credentials over HTTP Basic -> a bearer token.

Errors carry RFC 6749's `error` beside the problem+json fields, so OAuth
client libraries and problem+json readers both understand them."""

from __future__ import annotations

import base64
import binascii
import hmac

from aiohttp import web

from service import errors as e
from service.auth import SCOPES, hash_secret
from service.http.access import ready_signer
from service.http.endpoint import endpoint
from service.http.responses import json_response
from service.schemas import admin as a
from service.state import DATABASE, METRICS, TOKEN_BRAKE

routes = web.RouteTableDef()


def _basic(request: web.Request) -> tuple[str, str]:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        raise e.InvalidClient("Send clientId:clientSecret with HTTP Basic authentication")
    try:
        client_id, sep, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise e.InvalidClient("The Basic credentials are not valid base64") from None
    if not sep or not client_id or not secret or len(client_id) > 100 or "\x00" in client_id:
        raise e.InvalidClient("The client credentials are not valid")
    return client_id, secret


def _requested(form, granted: frozenset[str]) -> frozenset[str]:
    """The scopes asked for with the `scope` field: all the credential has when absent."""
    raw = form.get("scope")
    if raw is None or not str(raw).strip():
        return granted
    wanted = frozenset(str(raw).split())
    if not wanted <= granted:
        missing = " ".join(sorted(wanted - granted))
        raise e.InvalidScope(f"Not granted to this client: {missing[:200]}")
    return wanted


@routes.post("/oauth/token")
@endpoint(
    summary="Exchange API credentials for an access token",
    tag="Authentication",
    returns=a.AccessToken,
    body=a.TokenRequest,
    form=True,
    errors=(
        e.UnsupportedGrantType,
        e.InvalidScope,
        e.InvalidClient,
        e.UnsupportedMediaType,
        e.PayloadTooLarge,
        e.SlowDown,
    ),
    description="HTTP Basic `clientId:clientSecret`; the token is sent as `Authorization: Bearer` on "
    "`/api/*`. It is a JWT signed with `EdDSA` (Ed25519) whose `kid` names a key of "
    "`/.well-known/jwks.json`, with the claims `sub` (the clientId), `scope`, `iat` and `exp`; tokens "
    "of the v3.1 format answer 401 (get a new one). `scope` may ask for a subset of the credential's scopes. Errors carry RFC 6749's "
    "`error` (`invalid_client`, `unsupported_grant_type`, `invalid_scope`, `slow_down`) beside the "
    "problem fields. After 10 failed attempts for one `clientId` within a minute, every attempt for it "
    "answers 429 `slow_down` with `Retry-After`, a right secret too, until the oldest of those "
    "failures is a minute old. An attempt still being checked counts as a failure, so guesses sent in "
    "parallel meet the brake too.",
)
async def token(request: web.Request) -> web.Response:
    client_id, secret = _basic(request)
    brake = request.app[TOKEN_BRAKE]
    # Counted as a failure from here until the secret proves right: parallel
    # guesses all waiting on the database meet the brake too.
    wait = brake.attempt(client_id)
    if wait is not None:
        if (metrics := request.app[METRICS]) is not None:
            metrics.rate_limited.inc()
        raise e.SlowDown(
            f"Too many failed attempts for this client; retry in {wait} s", headers={"Retry-After": str(wait)}
        )
    failed = False
    try:
        if request.content_type != "application/x-www-form-urlencoded":
            raise e.UnsupportedMediaType("Send the body as application/x-www-form-urlencoded")
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            raise e.UnsupportedGrantType("grant_type must be client_credentials")
        row = await request.app[DATABASE].fetchrow("credential_for_login", client_id)
        if row is None or not hmac.compare_digest(row["secret_hash"], hash_secret(secret)):
            failed = True
            raise e.InvalidClient("The client credentials are not valid")
    finally:
        brake.settle(client_id, failed=failed)
    scopes = _requested(form, frozenset(row["scopes"]))
    signer = await ready_signer(request.app)
    granted = [scope for scope in SCOPES if scope in scopes]
    return json_response(
        {
            "access_token": signer.issue(client_id, granted),
            "token_type": "Bearer",
            "expires_in": signer.ttl_seconds,
            "scope": " ".join(granted),
        },
        headers={"Cache-Control": "no-store"},
    )
