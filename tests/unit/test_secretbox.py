"""The one door every secret at rest goes through: sealed values open only with
their key, in their own row, and tell which key sealed them."""

import os
import stat

import pytest

from service import secretbox
from service.secretbox import SealBroken, SecretBox, SecretKeyUnavailable, context

KEY, OTHER = bytes(range(32)), bytes(range(1, 33))
ROW_7 = context(secretbox.WEBHOOK_SECRET, 7, 1)


def test_a_sealed_value_opens_with_its_key_and_context_only():
    box = SecretBox(KEY)
    sealed = box.seal(b"the webhook key", ROW_7)
    assert b"the webhook key" not in sealed
    assert box.open(sealed, ROW_7) == b"the webhook key"
    assert box.seal(b"the webhook key", ROW_7) != sealed  # a fresh nonce each time
    for moved in (context(secretbox.WEBHOOK_SECRET, 8, 1), context(secretbox.WEBHOOK_SECRET, 7, 2),
                  context(secretbox.STORED_ANSWER, 7, 1)):
        with pytest.raises(SealBroken):
            box.open(sealed, moved)  # copied into another row or column: does not open
    altered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SealBroken):
        box.open(altered, ROW_7)


def test_the_key_id_tells_which_key_sealed_a_value():
    sealed = SecretBox(OTHER).seal(b"x", ROW_7)
    assert secretbox.is_sealed(sealed)
    assert secretbox.sealed_key_id(sealed) == secretbox.key_id(OTHER) != secretbox.key_id(KEY)
    with pytest.raises(SecretKeyUnavailable) as refused:
        SecretBox(KEY).open(sealed, ROW_7)
    assert refused.value.status == 503 and refused.value.key_id == secretbox.key_id(OTHER)
    # During a rotation the old key opens what it sealed; the new one seals.
    rotating = SecretBox(KEY, old=OTHER)
    assert rotating.open(sealed, ROW_7) == b"x"
    assert secretbox.sealed_key_id(rotating.seal(b"x", ROW_7)) == secretbox.key_id(KEY)


def test_plain_json_is_never_taken_for_a_sealed_value():
    for plain in (b"", b"{}", b'{"secret":"whsec_abc"}', b"[1]", bytes(32)):
        assert not secretbox.is_sealed(plain)


def test_the_embedded_default_keeps_its_generated_key_private_and_reuses_it(tmp_path):
    data_dir = tmp_path / "data"
    key = secretbox.kept_key(data_dir)
    path = data_dir / secretbox.KEY_FILE
    assert len(key) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert secretbox.kept_key(data_dir) == key
    secretbox.keep_key(data_dir, OTHER)
    assert secretbox.kept_key(data_dir) == OTHER
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
