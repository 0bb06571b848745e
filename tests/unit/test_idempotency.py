"""What "the same request" and a valid key are, and the key lifetime setting."""

import pytest

from service.http.idempotency import fingerprint
from service.settings import Settings, SettingsError


def test_the_same_json_in_another_spelling_is_the_same_request():
    one = fingerprint("POST", "/api/orders", b'{"accountId": 1, "notes": "a"}')
    assert fingerprint("POST", "/api/orders", b'{ "notes":"a",\n "accountId":1 }') == one
    assert fingerprint("POST", "/api/orders", b'{"accountId": 1, "notes": "b"}') != one
    assert fingerprint("POST", "/api/orders", b'{"accountId": 1.0, "notes": "a"}') != one
    assert fingerprint("POST", "/api/orders/1/items", b'{"accountId": 1, "notes": "a"}') != one
    assert fingerprint("PUT", "/api/orders", b'{"accountId": 1, "notes": "a"}') != one


def test_a_body_that_is_not_json_is_compared_byte_for_byte():
    assert fingerprint("POST", "/p", b"{not json") == fingerprint("POST", "/p", b"{not json")
    assert fingerprint("POST", "/p", b"{not json") != fingerprint("POST", "/p", b"{not json ")
    assert fingerprint("POST", "/p", b"") != fingerprint("POST", "/p", b"{}")
    # The parts are length-prefixed: moving a byte from path to body is another request.
    assert fingerprint("POST", "/p1", b"2") != fingerprint("POST", "/p", b"12")
    assert fingerprint("POST", "/p", b"[" * 100_000) == fingerprint("POST", "/p", b"[" * 100_000)


def test_the_key_lifetime_defaults_to_a_day_and_is_bounded():
    assert Settings.from_env({}).idempotency_ttl_seconds == 86400
    assert Settings.from_env({"IDEMPOTENCY_TTL_SECONDS": "60"}).idempotency_ttl_seconds == 60
    for bad in ("0", "2592001", "1.5", "day"):
        with pytest.raises(SettingsError, match="IDEMPOTENCY_TTL_SECONDS"):
            Settings.from_env({"IDEMPOTENCY_TTL_SECONDS": bad})
