"""SECRET_KEY, OLD_SECRET_KEY and ADMIN_TOKEN: bounds, and refusals that name the setting
without showing its value."""

import base64

import pytest

from service.settings import Settings, SettingsError

KEY = bytes(range(32))


def test_secret_keys_are_read_from_base64_in_either_alphabet():
    standard = base64.b64encode(KEY).decode()
    urlsafe = base64.urlsafe_b64encode(KEY).decode()
    settings = Settings.from_env({"SECRET_KEY": standard, "OLD_SECRET_KEY": urlsafe})
    assert settings.secret_key == KEY and settings.old_secret_key == KEY
    assert Settings.from_env({}).secret_key is None
    assert standard not in repr(settings)  # a logged Settings shows no key


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (base64.b64encode(bytes(31)).decode(), "SECRET_KEY must be 32 bytes in base64, got 31 bytes"),
        (base64.b64encode(bytes(33)).decode(), "SECRET_KEY must be 32 bytes in base64, got 33 bytes"),
        ("not base64 at all!", "SECRET_KEY must be 32 random bytes in base64"),
    ],
)
def test_a_secret_key_that_is_not_32_bytes_of_base64_is_refused_without_its_value(value, message):
    with pytest.raises(SettingsError, match=message) as refused:
        Settings.from_env({"SECRET_KEY": value})
    assert value not in str(refused.value)
    with pytest.raises(SettingsError, match=message.replace("SECRET_KEY", "OLD_SECRET_KEY")):
        Settings.from_env({"OLD_SECRET_KEY": value})


def test_a_database_of_ones_own_needs_a_secret_key():
    with pytest.raises(SettingsError, match="SECRET_KEY is required with DATABASE_URL"):
        Settings.from_env({"DATABASE_URL": "postgresql://app@db/orders"})
    key = base64.b64encode(KEY).decode()
    assert Settings.from_env({"DATABASE_URL": "postgresql://app@db/orders", "SECRET_KEY": key}).secret_key == KEY


def test_the_admin_token_has_sixteen_characters_at_least():
    with pytest.raises(SettingsError, match="ADMIN_TOKEN must be at least 16 characters, got 15") as refused:
        Settings.from_env({"ADMIN_TOKEN": "fifteen-chars!!"})
    assert "fifteen-chars!!" not in str(refused.value)
    assert Settings.from_env({"ADMIN_TOKEN": "sixteen-chars!!!"}).admin_token == "sixteen-chars!!!"
    assert Settings.from_env({"ADMIN_TOKEN": ""}).admin_token is None


def test_the_operator_brake_is_ten_failures_a_minute_unless_set_within_bounds():
    assert Settings.from_env({}).admin_failed_auth_per_minute == 10
    assert Settings.from_env({"ADMIN_FAILED_AUTH_PER_MINUTE": "100"}).admin_failed_auth_per_minute == 100
    for bad in ("0", "100001", "many"):
        with pytest.raises(SettingsError, match="ADMIN_FAILED_AUTH_PER_MINUTE must be"):
            Settings.from_env({"ADMIN_FAILED_AUTH_PER_MINUTE": bad})
