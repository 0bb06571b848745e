"""POST /oauth/token: client credentials over HTTP Basic -> a bearer token."""

from __future__ import annotations

import base64
import binascii
import hmac

from aiohttp import web

from service.auth import hash_secret
from service.errors import InvalidClient, UnsupportedGrantType, UnsupportedMediaType
from service.responses import json_response
from service.state import POOL, QUERIES, SIGNER

routes = web.RouteTableDef()


def _basic(request: web.Request) -> tuple[str, str]:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("Send clientId:clientSecret with HTTP Basic authentication")
    try:
        client_id, sep, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("The Basic credentials are not valid base64") from None
    if not sep or not client_id or not secret or len(client_id) > 100 or "\x00" in client_id:
        raise InvalidClient("The client credentials are not valid")
    return client_id, secret


@routes.post("/oauth/token")
async def token(request: web.Request) -> web.Response:
    client_id, secret = _basic(request)
    if request.content_type != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("Send the body as application/x-www-form-urlencoded")
    form = await request.post()
    if form.get("grant_type") != "client_credentials":
        raise UnsupportedGrantType("grant_type must be client_credentials")
    row = await request.app[POOL].fetchrow(request.app[QUERIES]["credential_for_login"], client_id)
    if row is None or not hmac.compare_digest(row["secret_hash"], hash_secret(secret)):
        raise InvalidClient("The client credentials are not valid")
    signer = request.app[SIGNER]
    return json_response(
        {"access_token": signer.issue(client_id), "token_type": "Bearer", "expires_in": signer.ttl_seconds},
        headers={"Cache-Control": "no-store"},
    )
