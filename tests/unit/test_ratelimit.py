"""The token bucket and the token brake, on a clock the test moves."""

from __future__ import annotations

import pytest

from service.http.ratelimit import SWEEP_SECONDS, RateLimiter, TokenBrake


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_full_bucket_allows_a_burst_of_the_limit_then_refuses(clock):
    limiter = RateLimiter(per_minute=120, clock=clock)
    verdicts = [limiter.take("a") for _ in range(121)]
    assert all(v.allowed for v in verdicts[:120])
    assert [v.remaining for v in verdicts[:3]] == [119, 118, 117]
    refused = verdicts[120]
    assert not refused.allowed and refused.remaining == 0
    # 2 tokens a second: one request is possible again in half a second, rounded up.
    assert refused.retry_after == 1
    assert refused.reset == 60
    assert limiter.policy == '"default";q=120;w=60'
    assert refused.header == '"default";r=0;t=60'


def test_tokens_come_back_at_the_limit_per_minute_and_never_beyond_it(clock):
    limiter = RateLimiter(per_minute=60, clock=clock)
    for _ in range(60):
        assert limiter.take("a").allowed
    assert not limiter.take("a").allowed
    clock.now += 1.0  # one token a second
    assert limiter.take("a").allowed
    assert not limiter.take("a").allowed
    clock.now += 3600
    verdict = limiter.take("a")
    assert verdict.remaining == 59  # full means the limit, however long the pause
    assert verdict.reset == 1


def test_each_credential_has_its_own_bucket(clock):
    limiter = RateLimiter(per_minute=1, clock=clock)
    assert limiter.take("a").allowed
    assert not limiter.take("a").allowed
    assert limiter.take("b").allowed
    refused = limiter.take("a")
    assert refused.retry_after == 60


def test_idle_buckets_are_forgotten_so_memory_follows_active_credentials(clock):
    limiter = RateLimiter(per_minute=60, clock=clock)
    for n in range(1000):
        limiter.take(f"client-{n}")
    assert len(limiter) == 1000
    clock.now += SWEEP_SECONDS
    limiter.take("busy")
    # Every idle bucket had refilled: dropping it changes nothing for its client.
    assert len(limiter) == 1


def test_a_bucket_still_refilling_survives_the_sweep(clock):
    limiter = RateLimiter(per_minute=60, clock=clock)
    for _ in range(60):
        limiter.take("busy")
    clock.now += SWEEP_SECONDS - 1
    limiter.take("busy")
    clock.now += 1
    limiter.take("other")
    assert len(limiter) == 2


def fail(brake: TokenBrake, key: str) -> None:
    assert brake.attempt(key) is None
    brake.settle(key, failed=True)


def braked_for(brake: TokenBrake, key: str) -> int | None:
    """What an attempt that turns out right meets: the wait while braked, else None."""
    wait = brake.attempt(key)
    if wait is None:
        brake.settle(key, failed=False)
    return wait


def test_the_brake_engages_at_ten_failures_within_a_minute_and_lets_go_after_it(clock):
    brake = TokenBrake(clock=clock)
    for _ in range(9):
        fail(brake, "ro_x")
        clock.now += 1
    assert braked_for(brake, "ro_x") is None
    fail(brake, "ro_x")
    # The first of the ten was 9 s ago: a minute after it, attempts are heard again.
    assert braked_for(brake, "ro_x") == 51
    assert braked_for(brake, "ro_other") is None
    clock.now += 50.5
    assert braked_for(brake, "ro_x") == 1
    clock.now += 0.5
    assert braked_for(brake, "ro_x") is None


def test_attempts_in_flight_count_as_failures_until_they_prove_right(clock):
    brake = TokenBrake(clock=clock)
    assert [brake.attempt("ro_x") for _ in range(10)] == [None] * 10  # ten checks under way
    assert brake.attempt("ro_x") == 60  # the eleventh meets the brake before any has failed
    for _ in range(10):
        brake.settle("ro_x", failed=False)  # all ten were right after all
    assert len(brake) == 0
    assert braked_for(brake, "ro_x") is None


def test_a_right_attempt_is_forgiven_and_a_wrong_one_kept(clock):
    brake = TokenBrake(clock=clock)
    for _ in range(9):
        fail(brake, "ro_x")
    assert brake.attempt("ro_x") is None
    brake.settle("ro_x", failed=False)
    assert braked_for(brake, "ro_x") is None  # still nine failures
    fail(brake, "ro_x")
    assert braked_for(brake, "ro_x") == 60


def test_failures_spread_over_more_than_a_minute_never_brake(clock):
    brake = TokenBrake(clock=clock)
    for _ in range(30):
        fail(brake, "ro_x")
        clock.now += 7  # ten failures span 63 s
        assert braked_for(brake, "ro_x") is None


def test_made_up_client_ids_cannot_grow_the_brake_without_bound(clock):
    brake = TokenBrake(max_clients=100, clock=clock)
    for _ in range(9):
        fail(brake, "ro_target")
    for n in range(90):
        fail(brake, f"made-up-{n}")
    fail(brake, "ro_target")  # its latest failure moves it to the back of the line
    for n in range(90, 150):
        fail(brake, f"made-up-{n}")
    assert len(brake) == 100
    assert braked_for(brake, "ro_target") is not None
    clock.now += 61
    fail(brake, "one-more")
    # The stale entries go first once the table is full.
    assert len(brake) == 1
