"""Settings of docs/how-to/operate.md: defaults, and refusals that name the setting."""

import pytest

from service.settings import Settings, SettingsError


def test_defaults():
    settings = Settings.from_env({})
    assert settings.rate_limit_per_minute == 1200
    assert settings.metrics_enabled is True
    assert settings.metrics_token is None
    assert settings.header_timeout_seconds == 10
    assert settings.body_timeout_seconds == 10


def test_values_are_read():
    settings = Settings.from_env(
        {
            "RATE_LIMIT_PER_MINUTE": "0",
            "METRICS_ENABLED": "false",
            "METRICS_TOKEN": "s3cret",
            "HEADER_TIMEOUT_SECONDS": "2.5",
            "BODY_TIMEOUT_SECONDS": "30",
        }
    )
    assert settings.rate_limit_per_minute == 0
    assert settings.metrics_enabled is False
    assert settings.metrics_token == "s3cret"
    assert (settings.header_timeout_seconds, settings.body_timeout_seconds) == (2.5, 30)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RATE_LIMIT_PER_MINUTE": "-1"}, "RATE_LIMIT_PER_MINUTE must be between 0 and 1000000"),
        ({"RATE_LIMIT_PER_MINUTE": "lots"}, "RATE_LIMIT_PER_MINUTE must be a whole number"),
        ({"METRICS_ENABLED": "perhaps"}, "METRICS_ENABLED must be true or false"),
        ({"HEADER_TIMEOUT_SECONDS": "0.1"}, "HEADER_TIMEOUT_SECONDS must be between 0.5"),
        ({"BODY_TIMEOUT_SECONDS": "never"}, "BODY_TIMEOUT_SECONDS must be a number"),
    ],
)
def test_bad_values_are_refused_with_the_setting_named(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)
