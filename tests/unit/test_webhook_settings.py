import pytest

from service.settings import Settings, SettingsError


def test_webhook_defaults_follow_the_contract():
    settings = Settings.from_env({})
    assert settings.webhook_retry_schedule == (5, 30, 120, 600, 1800, 7200, 21600, 43200)
    assert settings.webhook_poll_interval_seconds == 1
    assert settings.webhook_allow_private_urls is False
    assert settings.webhook_timeout_seconds == 10
    assert settings.webhook_disable_after_seconds == 3 * 86400


def test_webhook_values_are_read():
    settings = Settings.from_env(
        {
            "WEBHOOK_RETRY_SCHEDULE": "0.5, 2,10",
            "WEBHOOK_POLL_INTERVAL_SECONDS": "0.25",
            "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        }
    )
    assert settings.webhook_retry_schedule == (0.5, 2.0, 10.0)
    assert settings.webhook_poll_interval_seconds == 0.25
    assert settings.webhook_allow_private_urls is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WEBHOOK_RETRY_SCHEDULE": "5,soon"}, "WEBHOOK_RETRY_SCHEDULE must be seconds"),
        ({"WEBHOOK_RETRY_SCHEDULE": "5,0"}, "WEBHOOK_RETRY_SCHEDULE must hold 1 to 20 delays"),
        ({"WEBHOOK_RETRY_SCHEDULE": ",".join(["1"] * 21)}, "WEBHOOK_RETRY_SCHEDULE must hold"),
        ({"WEBHOOK_POLL_INTERVAL_SECONDS": "0"}, "WEBHOOK_POLL_INTERVAL_SECONDS must be between"),
        ({"WEBHOOK_ALLOW_PRIVATE_URLS": "maybe"}, "WEBHOOK_ALLOW_PRIVATE_URLS must be true or false"),
        ({"WEBHOOK_TIMEOUT_SECONDS": "30"}, "WEBHOOK_TIMEOUT_SECONDS must be between 0.1 and 10"),
        ({"WEBHOOK_LEASE_SECONDS": "15"}, "WEBHOOK_LEASE_SECONDS must be at least twice"),
        ({"WEBHOOK_CONCURRENCY": "0"}, "WEBHOOK_CONCURRENCY must be between"),
    ],
)
def test_bad_webhook_values_are_refused_with_the_setting_named(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)
