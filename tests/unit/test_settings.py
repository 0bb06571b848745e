from pathlib import Path

import pytest

from service.settings import Settings, SettingsError


def test_defaults_follow_the_contract():
    settings = Settings.from_env({})
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.database_url is None
    assert settings.data_dir == Path(".data")
    assert settings.admin_token is None
    assert settings.expire_interval_seconds == 60
    assert settings.poll_interval_seconds == 5


def test_values_are_read_and_fractions_allowed():
    settings = Settings.from_env(
        {"PORT": "9000", "POLL_INTERVAL_SECONDS": "0.5", "MIGRATE_ON_START": "false", "ADMIN_TOKEN": "x" * 16}
    )
    assert settings.port == 9000
    assert settings.poll_interval_seconds == 0.5
    assert settings.migrate_on_start is False
    assert settings.admin_token == "x" * 16


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "http"}, "PORT must be a whole number"),
        ({"PORT": "70000"}, "PORT must be between 1 and 65535"),
        ({"POLL_INTERVAL_SECONDS": "soon"}, "POLL_INTERVAL_SECONDS must be a number"),
        ({"EXPIRE_INTERVAL_SECONDS": "0"}, "EXPIRE_INTERVAL_SECONDS must be between"),
        ({"MIGRATE_ON_START": "maybe"}, "MIGRATE_ON_START must be true or false"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL must be one of"),
    ],
)
def test_bad_values_are_refused_with_the_setting_named(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_the_event_loop_is_asyncio_unless_uvloop_is_asked_for_and_installed(monkeypatch):
    assert Settings.from_env({}).event_loop == "asyncio"
    assert Settings.from_env({"EVENT_LOOP": "uvloop"}).event_loop == "uvloop"
    with pytest.raises(SettingsError, match="EVENT_LOOP must be one of"):
        Settings.from_env({"EVENT_LOOP": "trio"})
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SettingsError, match="pip install 'reseller-ordering-api\\[uvloop\\]'"):
        Settings.from_env({"EVENT_LOOP": "uvloop"})
