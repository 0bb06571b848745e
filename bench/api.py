"""What the harness asks of the real API before the load: credentials, tokens, a deep cursor."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from urllib.parse import quote

import aiohttp
import asyncpg


class ApiError(RuntimeError):
    """The service did not answer a set-up request as the contract says."""


async def _json(response: aiohttp.ClientResponse, what: str) -> dict:
    if response.status >= 300:
        raise ApiError(f"{what}: HTTP {response.status}: {(await response.text())[:500]}")
    return await response.json(content_type=None)


async def credentials(
    session: aiohttp.ClientSession, url: str, *, admin_token: str, reseller_id: int,
    conn: asyncpg.Connection, queries: Mapping[str, str],
) -> tuple[str, str, str]:
    """(clientId, clientSecret, how): from the operator API, or written directly while it is missing."""
    async with session.post(
        f"{url}/admin/resellers/{reseller_id}/credentials",
        headers={"Authorization": f"Bearer {admin_token}"},
    ) as response:
        if response.status == 201:
            body = await response.json(content_type=None)
            return body["clientId"], body["clientSecret"], "POST /admin/resellers/{id}/credentials"
        if response.status not in (404, 405):
            raise ApiError(f"credentials: HTTP {response.status}: {(await response.text())[:500]}")
    # The operator route has not landed: store a credential the way the contract
    # describes it (sha256 hex of the secret), so /oauth/token can still verify it.
    client_id = f"bench-{reseller_id}-{secrets.token_hex(4)}"
    secret = secrets.token_urlsafe(24)
    await conn.execute(
        queries["loader_insert_credential"], client_id, reseller_id,
        hashlib.sha256(secret.encode()).hexdigest(),
    )
    return client_id, secret, "inserted into credentials (operator API missing)"


async def token(session: aiohttp.ClientSession, url: str, client_id: str, secret: str) -> str:
    async with session.post(
        f"{url}/oauth/token",
        auth=aiohttp.BasicAuth(client_id, secret),
        data={"grant_type": "client_credentials"},
    ) as response:
        return (await _json(response, "POST /oauth/token"))["access_token"]


async def deep_list_path(
    session: aiohttp.ClientSession, url: str, *, token: str, skip: int, max_pages: int = 400,
    list_path: str = "/api/orders?stage=All",
) -> tuple[str, int]:
    """The path of a page of `list_path` (a keyset list: orders, subscriptions) `skip` rows
    deep, reached by following nextCursor; and the depth."""
    headers = {"Authorization": f"Bearer {token}"}
    joiner = "&" if "?" in list_path else "?"
    cursor = None
    seen = 0
    for _ in range(max_pages):
        # Big pages to get there, the last one cut to land exactly at `skip`.
        page_size = min(200, skip - seen)
        if page_size <= 0:
            break
        query = f"pageSize={page_size}" + (f"&cursor={quote(cursor, safe='')}" if cursor else "")
        async with session.get(f"{url}{list_path}{joiner}{query}", headers=headers) as response:
            body = await _json(response, f"GET {list_path}")
        seen += len(body["items"])
        if not body.get("nextCursor"):
            cursor = None
            break
        cursor = body["nextCursor"]
    path = f"{list_path}{joiner}pageSize=50"
    if cursor:
        path += f"&cursor={quote(cursor, safe='')}"
    return path, seen


async def check(session: aiohttp.ClientSession, url: str, path: str, *, token: str, status: int) -> None:
    """One request of a scenario before loading it, so a scenario of errors is caught early."""
    async with session.get(f"{url}{path}", headers={"Authorization": f"Bearer {token}"}) as response:
        if response.status != status:
            raise ApiError(f"GET {path}: HTTP {response.status}, expected {status}: "
                           f"{(await response.text())[:300]}")
