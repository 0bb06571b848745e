"""Signatures as Standard Webhooks defines them: the standardwebhooks package
(what receivers use) and the service agree in both directions."""

from __future__ import annotations

import datetime
import time

import pytest
from standardwebhooks import Webhook

from service.webhooks import signing

BODY = b'{"id":"evt_42","type":"order.created","data":{"note":"caf\xc3\xa9"}}'


def test_a_new_secret_is_whsec_and_base64_of_its_key():
    key = signing.new_key()
    secret = signing.secret_of(key)
    assert secret.startswith("whsec_") and len(key) == 32
    assert signing.key_of(secret) == key


def test_the_services_headers_verify_with_the_standardwebhooks_package():
    key = signing.new_key()
    headers = signing.headers(key, "evt_42", BODY)
    assert Webhook(signing.secret_of(key)).verify(BODY, headers)["id"] == "evt_42"
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(signing.secret_of(signing.new_key())).verify(BODY, headers)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(signing.secret_of(key)).verify(BODY.replace(b"42", b"43"), headers)


def test_the_receiver_verifies_what_the_standardwebhooks_package_signs():
    key = signing.new_key()
    now = int(time.time())
    theirs = Webhook(signing.secret_of(key)).sign(
        "evt_7", datetime.datetime.fromtimestamp(now, datetime.UTC), BODY.decode()
    )
    assert theirs == signing.signature(key, "evt_7", now, BODY)
    headers = {"Webhook-Id": "evt_7", "Webhook-Timestamp": str(now), "Webhook-Signature": f"v1,bad= {theirs}"}
    assert signing.verify(key, headers, BODY) == "evt_7"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"webhook-signature": None}, "missing"),
        ({"webhook-timestamp": "soon"}, "Unix seconds"),
        ({"webhook-timestamp": str(int(time.time()) - 600)}, "too far"),
        ({"webhook-id": "evt_8"}, "no signature matches"),
        ({"webhook-signature": "v2,abc"}, "no signature matches"),
    ],
)
def test_the_receiver_refuses_what_does_not_verify(change, message):
    key = signing.new_key()
    headers = {**signing.headers(key, "evt_7", BODY), **change}
    headers = {name: value for name, value in headers.items() if value is not None}
    with pytest.raises(signing.SignatureError, match=message):
        signing.verify(key, headers, BODY)


def test_a_secret_that_is_not_base64_is_refused():
    with pytest.raises(signing.SignatureError):
        signing.key_of("whsec_not base64!")
