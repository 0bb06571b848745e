"""Rate limits as a reseller meets them: the headers, 429 and its Retry-After,
the refill, and the brake on guessing secrets at POST /oauth/token."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import re

import pytest

from service.app import create_app
from service.http.ratelimit import TokenBrake
from service.state import TOKEN_BRAKE
from tests.api import PROBLEM, Api

RATE = re.compile(r'^"default";r=(\d+);t=(\d+)$')


@pytest.fixture
def limited(dsn, settings, aiohttp_client):
    async def make(per_minute: int, **changes):
        app = create_app(dataclasses.replace(settings, rate_limit_per_minute=per_minute, **changes), dsn=dsn)
        return await aiohttp_client(app)

    return make


def _rate(response) -> tuple[int, int]:
    match = RATE.match(response.headers["RateLimit"])
    assert match, response.headers["RateLimit"]
    return int(match[1]), int(match[2])


async def test_every_api_answer_carries_the_policy_and_what_is_left(limited):
    client = await limited(60)
    api = Api(client)
    tenant = await api.tenant()
    seen = []
    for path in ("/api/accounts", "/api/orders/999999", "/api/orders?stage=sideways"):
        response = await client.get(path, headers=tenant.headers)
        assert response.headers["RateLimit-Policy"] == '"default";q=60;w=60'
        seen.append((response.status, _rate(response)))
    assert [status for status, _ in seen] == [200, 404, 422]
    # Errors count too: each request took one token; a token comes back each second.
    remaining = [r for _, (r, _) in seen]
    assert remaining == sorted(remaining, reverse=True) and remaining[0] - remaining[-1] >= 1
    assert all(1 <= t <= 3 for _, (_, t) in seen)
    # No credential, nothing to count against: 401 and the public document carry none.
    for path in ("/api/accounts", "/api/openapi.json"):
        assert "RateLimit" not in (await client.get(path)).headers
    assert "RateLimit" not in (await client.get("/health/live")).headers


async def test_over_the_limit_answers_429_with_retry_after_until_tokens_come_back(limited):
    client = await limited(60)  # one token a second
    api = Api(client)
    tenant = await api.tenant()
    colleague = await api.colleague(tenant)
    statuses = [(await client.get("/api/accounts", headers=tenant.headers)).status for _ in range(60)]
    assert statuses == [200] * 60
    refused = await client.get("/api/accounts", headers=tenant.headers)
    assert refused.status == 429
    problem = await refused.json(content_type=PROBLEM)
    assert problem["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) == 1
    assert _rate(refused)[0] == 0
    # Another credential of the same reseller has its own budget.
    assert (await client.get("/api/accounts", headers=colleague.headers)).status == 200
    await asyncio.sleep(1.1)
    assert (await client.get("/api/accounts", headers=tenant.headers)).status == 200
    assert (await client.get("/api/accounts", headers=tenant.headers)).status == 429


async def test_a_limit_of_zero_turns_limits_off(limited):
    client = await limited(0)
    api = Api(client)
    tenant = await api.tenant()
    for _ in range(30):
        response = await client.get("/api/accounts", headers=tenant.headers)
        assert response.status == 200
        assert "RateLimit" not in response.headers and "RateLimit-Policy" not in response.headers


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def _token(client, client_id: str, secret: str):
    return await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=_basic(client_id, secret)
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_ten_wrong_secrets_in_a_minute_brake_the_client_id_even_for_the_right_secret(
    dsn, settings, aiohttp_client
):
    app = create_app(settings, dsn=dsn)
    app[TOKEN_BRAKE] = TokenBrake(clock=(clock := Clock()))
    client = await aiohttp_client(app)
    api = Api(client)
    tenant = await api.tenant()
    other = await api.tenant(name="Other")
    for _ in range(10):
        wrong = await _token(client, tenant.client_id, "not-the-secret")
        assert wrong.status == 401
        clock.now += 1
    braked = await _token(client, tenant.client_id, tenant.client_secret)
    assert braked.status == 429
    body = await braked.json(content_type=PROBLEM)
    assert body["error"] == "slow_down" and body["code"] == "slow_down"
    assert int(braked.headers["Retry-After"]) == 50
    # Other client ids, and tokens issued before, are untouched.
    assert (await _token(client, other.client_id, other.client_secret)).status == 200
    assert (await client.get("/api/accounts", headers=tenant.headers)).status == 200
    # Braked attempts are not failures: the brake ends a minute after the first failure.
    clock.now += 49.5
    assert (await _token(client, tenant.client_id, tenant.client_secret)).status == 429
    clock.now += 0.5
    assert (await _token(client, tenant.client_id, tenant.client_secret)).status == 200


async def test_unknown_client_ids_are_braked_like_real_ones(dsn, settings, aiohttp_client):
    client = await aiohttp_client(create_app(settings, dsn=dsn))
    statuses = [(await _token(client, "ro_guess", "x")).status for _ in range(11)]
    assert statuses == [401] * 10 + [429]


class CountingBrake(TokenBrake):
    """The product's brake, counting the attempts that reached it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def attempt(self, key: str) -> int | None:
        self.seen += 1
        return super().attempt(key)


class CountsAfterTheCheck(CountingBrake):
    """The brake as it was: read before the attempt, a failure counted only once the
    database said the secret was wrong. The control: it must let parallel guesses through."""

    def attempt(self, key: str) -> int | None:
        self.seen += 1
        failures = self._failures.get(key)
        if failures is not None and len(failures) >= self.attempts:
            return 60
        return None

    def settle(self, key: str, *, failed: bool) -> None:
        if failed:
            super().attempt(key)


async def _guess_in_parallel(dsn, settings, aiohttp_client, conn, brake: CountingBrake) -> list[int]:
    """30 wrong secrets for one clientId at once, while the credentials table is locked, so
    every guess let through waits on the database: the statuses, once the lock is let go."""
    app = create_app(settings, dsn=dsn)
    app[TOKEN_BRAKE] = brake
    client = await aiohttp_client(app)
    tenant = await Api(client).tenant()
    async with conn.transaction():
        await conn.execute("LOCK TABLE credentials IN ACCESS EXCLUSIVE MODE")
        guesses = [asyncio.create_task(_token(client, tenant.client_id, f"guess-{n}")) for n in range(30)]
        while brake.seen < 30:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # for the refusals to arrive; nothing let through can finish
        answered_while_locked = sum(task.done() for task in guesses)
    statuses = [(await task).status for task in guesses]
    assert answered_while_locked == statuses.count(429)  # only refusals came back under the lock
    return statuses


async def test_parallel_wrong_guesses_meet_the_brake_before_any_is_checked(dsn, settings, aiohttp_client, conn):
    statuses = await _guess_in_parallel(dsn, settings, aiohttp_client, conn, CountingBrake())
    assert statuses.count(401) == 10 and statuses.count(429) == 20


async def test_control_a_brake_read_before_counting_lets_every_parallel_guess_be_checked(
    dsn, settings, aiohttp_client, conn
):
    statuses = await _guess_in_parallel(dsn, settings, aiohttp_client, conn, CountsAfterTheCheck())
    assert statuses.count(401) == 30
