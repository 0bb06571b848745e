"""The SECRET_KEY of the tests: the template database's secrets are sealed with it, so every
app, process and direct database check of a test uses this one (or says why not)."""

from __future__ import annotations

from service.secretbox import SecretBox, key_text

SECRET_KEY = bytes(range(32))
SECRET_KEY_TEXT = key_text(SECRET_KEY)


def box() -> SecretBox:
    return SecretBox(SECRET_KEY)
