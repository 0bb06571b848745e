import pytest

from service.settings import Settings, SettingsError


def test_execution_defaults():
    settings = Settings.from_env({})
    assert settings.scheduler_enabled is True
    assert settings.execution_lease_seconds == 60
    assert settings.connector_timeout_seconds == 10
    assert settings.connector_concurrency == 10


def test_execution_values_are_read():
    settings = Settings.from_env(
        {
            "SCHEDULER_ENABLED": "false",
            "EXECUTION_LEASE_SECONDS": "30",
            "CONNECTOR_TIMEOUT_SECONDS": "2.5",
            "CONNECTOR_CONCURRENCY": "4",
        }
    )
    assert settings.scheduler_enabled is False
    assert (settings.execution_lease_seconds, settings.connector_timeout_seconds) == (30, 2.5)
    assert settings.connector_concurrency == 4


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SCHEDULER_ENABLED": "sometimes"}, "SCHEDULER_ENABLED must be true or false"),
        ({"CONNECTOR_CONCURRENCY": "0"}, "CONNECTOR_CONCURRENCY must be between 1 and 200"),
        ({"CONNECTOR_TIMEOUT_SECONDS": "40"}, "EXECUTION_LEASE_SECONDS must be at least twice"),
        ({"EXECUTION_LEASE_SECONDS": "0.5"}, "EXECUTION_LEASE_SECONDS must be between"),
    ],
)
def test_bad_execution_values_are_refused(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)
