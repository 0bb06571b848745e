"""The token signing keys: their public halves for anyone (a gateway verifies
tokens with them), and their rotation for the operator."""

from __future__ import annotations

from aiohttp import web

from service import errors as e
from service.http.endpoint import endpoint
from service.http.responses import json_response
from service.schemas import admin as a
from service.state import SERVICES, SIGNER

routes = web.RouteTableDef()
JWKS = "/.well-known/jwks.json"
SIGNING_KEYS = "/admin/signing-keys"
# How long a gateway may keep the key set: a new key's tokens name a kid it
# has not seen, and gateways read the set again for those.
JWKS_MAX_AGE_SECONDS = 300
ROTATION = (
    "To rotate: add a key (it signs from now on, on every replica within 2 s), wait until the tokens "
    "the old key signed have expired (`TOKEN_TTL_SECONDS`, 1 h by default), then delete the old key."
)


@routes.get(JWKS)
@endpoint(
    summary="The public keys that verify access tokens (JWKS)",
    tag="Authentication",
    returns=a.Jwks,
    description="RFC 7517 JSON Web Key Set, no authentication. Every access token is a JWT signed with "
    "`EdDSA` (Ed25519) whose `kid` header names one of these keys; verify its signature and `exp`, "
    "and read the clientId from `sub` and the granted scopes (space-separated) from `scope`. The "
    f"current key comes first. Cacheable for {JWKS_MAX_AGE_SECONDS} s: read the set again when a token "
    "names a `kid` that is not in it. A key deleted by the operator leaves the set, and the service "
    "refuses its tokens within 5 s.",
    headers=("Cache-Control",),
)
async def jwks(request: web.Request) -> web.Response:
    return json_response(
        await request.app[SERVICES].signing_keys.jwks(),
        headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE_SECONDS}"},
    )


@routes.get(SIGNING_KEYS)
@endpoint(
    summary="The token signing keys",
    tag="Operator",
    returns={"type": "array", "items": a.SigningKey},
    description="Newest first; the newest is `current`: it signs the tokens issued now. Every key listed "
    f"verifies tokens. {ROTATION}",
)
async def list_signing_keys(request: web.Request) -> web.Response:
    return json_response(await request.app[SERVICES].signing_keys.list())


@routes.post(SIGNING_KEYS)
@endpoint(
    summary="Add a signing key: it signs from now on",
    tag="Operator",
    status=201,
    returns=a.SigningKey,
    returns_description="Created; the older keys still verify",
    description="A new Ed25519 key pair; its private half is kept sealed with `SECRET_KEY`. This "
    f"replica signs with it at once, every other one within 2 s. {ROTATION}",
)
async def create_signing_key(request: web.Request) -> web.Response:
    created = await request.app[SERVICES].signing_keys.create()
    await request.app[SIGNER].refresh()
    return json_response(created, status=201)


@routes.delete(SIGNING_KEYS + "/{kid:[A-Za-z0-9_-]{1,64}}")
@endpoint(
    summary="Delete a signing key: its tokens are refused",
    tag="Operator",
    status=204,
    returns_description="Deleted",
    errors=(e.SigningKeyInUse,),
    description="Tokens it signed answer 401 on every replica within 5 s, and it leaves the JWKS. The "
    "current key cannot be deleted (409 `signing_key_in_use`): add a new one first.",
)
async def delete_signing_key(request: web.Request) -> web.Response:
    await request.app[SERVICES].signing_keys.delete(request.match_info["kid"])
    await request.app[SIGNER].refresh()
    return web.Response(status=204)
