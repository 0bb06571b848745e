"""Settings of the fair-use limits (docs/how-to/operate.md, "One tenant never holds back
another"): defaults, values read, and refusals that name the setting."""

import pytest

from service.settings import Settings, SettingsError


def test_defaults():
    settings = Settings.from_env({})
    assert settings.db_acquire_timeout_seconds == 5
    assert settings.lock_timeout_seconds == 3
    assert settings.idle_in_transaction_timeout_seconds == 60
    assert settings.webhooks_per_reseller == 20
    assert settings.sse_max_streams_per_reseller == 100


def test_values_are_read():
    settings = Settings.from_env(
        {
            "DB_ACQUIRE_TIMEOUT_SECONDS": "0.5",
            "LOCK_TIMEOUT_SECONDS": "1.5",
            "IDLE_IN_TRANSACTION_TIMEOUT_SECONDS": "300",
            "WEBHOOKS_PER_RESELLER": "3",
            "SSE_MAX_STREAMS_PER_RESELLER": "7",
        }
    )
    assert (settings.db_acquire_timeout_seconds, settings.lock_timeout_seconds) == (0.5, 1.5)
    assert settings.idle_in_transaction_timeout_seconds == 300
    assert (settings.webhooks_per_reseller, settings.sse_max_streams_per_reseller) == (3, 7)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DB_ACQUIRE_TIMEOUT_SECONDS": "0.01"}, "DB_ACQUIRE_TIMEOUT_SECONDS must be between 0.1 and 30"),
        ({"DB_ACQUIRE_TIMEOUT_SECONDS": "60"}, "DB_ACQUIRE_TIMEOUT_SECONDS must be between 0.1 and 30"),
        ({"LOCK_TIMEOUT_SECONDS": "31"}, "LOCK_TIMEOUT_SECONDS must be between 0.1 and 30"),
        ({"LOCK_TIMEOUT_SECONDS": "soon"}, "LOCK_TIMEOUT_SECONDS must be a number"),
        ({"IDLE_IN_TRANSACTION_TIMEOUT_SECONDS": "0.5"}, "IDLE_IN_TRANSACTION_TIMEOUT_SECONDS must be between 1"),
        ({"WEBHOOKS_PER_RESELLER": "0"}, "WEBHOOKS_PER_RESELLER must be between 1 and 10000"),
        ({"WEBHOOKS_PER_RESELLER": "many"}, "WEBHOOKS_PER_RESELLER must be a whole number"),
        ({"SSE_MAX_STREAMS_PER_RESELLER": "0"}, "SSE_MAX_STREAMS_PER_RESELLER must be between 1 and 100000"),
    ],
)
def test_bad_values_are_refused_with_the_setting_named(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)
