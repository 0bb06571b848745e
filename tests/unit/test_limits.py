"""The limits table (service.limits.TABLE): its shape, which the documentation
renders, and that every setting it names is one the service reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping

from service import limits
from service.settings import Settings


class _Recording(Mapping[str, str]):
    """An empty environment that remembers every name asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        raise KeyError(name)

    def get(self, name, default=None):
        self.asked.add(name)
        return default

    def __contains__(self, name) -> bool:
        self.asked.add(name)
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _settings_read() -> set[str]:
    env = _Recording()
    Settings.from_env(env)
    return env.asked


def test_every_setting_named_in_the_table_is_read_by_the_service():
    read = _settings_read()
    assert "RATE_LIMIT_PER_MINUTE" in read and "NO_SUCH_SETTING" not in read  # the recorder works
    named = {limit.setting for limit in limits.TABLE if limit.setting is not None}
    assert named, "the table names no setting"
    assert named <= read, sorted(named - read)


def test_rows_are_plain_text_records_with_the_four_fields():
    assert [field.name for field in dataclasses.fields(limits.Limit)] == ["name", "bound", "setting", "answer"]
    names = [limit.name for limit in limits.TABLE]
    assert len(names) == len(set(names))
    for limit in limits.TABLE:
        assert isinstance(limit, limits.Limit)
        assert all(isinstance(text, str) and text for text in (limit.name, limit.bound, limit.answer))
        assert limit.setting is None or (isinstance(limit.setting, str) and limit.setting.isupper())


def test_the_table_covers_every_bound_of_the_contract():
    text = " ".join(f"{limit.name} {limit.bound} {limit.setting} {limit.answer}" for limit in limits.TABLE)
    for needed in (
        "payload_too_large",
        "pageSize",
        "invalid_idempotency_key",
        "2048",
        "reason",
        "rate_limited",
        "slow_down",
        "SSE_MAX_STREAMS_PER_CREDENTIAL",
        "SSE_MAX_STREAMS_PER_RESELLER",
        "webhook_limit_reached",
        "errors",
        "KiB",
        "database_busy",
        "DB_ACQUIRE_TIMEOUT_SECONDS",
        "order_busy",
        "too_many_failed_attempts",
    ):
        assert needed in text, needed


def test_a_reseller_holds_at_most_half_of_a_pool():
    assert [limits.pool_share(size) for size in (1, 2, 3, 10, 11, 500)] == [1, 1, 1, 5, 5, 250]


def test_the_token_brake_counts_what_the_table_says():
    from service.http.ratelimit import TokenBrake

    assert TokenBrake().attempts == limits.TOKEN_BRAKE_FAILURES
