"""Which addresses a webhook may reach, and the URL rules."""

from __future__ import annotations

import ipaddress

import pytest

from service.webhooks import addresses
from tests.webhook_support import FakeResolver


@pytest.mark.parametrize(
    ("address", "label"),
    [
        ("93.184.215.14", None),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", None),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fd12::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "private"),
        ("100.64.0.1", "non-public"),
        ("192.0.2.1", "private"),
        ("::ffff:127.0.0.1", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("fec0::1", "site-local"),  # deprecated site-local, which ipaddress calls global
        ("feff:ffff::1", "site-local"),
    ],
)
def test_only_public_addresses_are_allowed(address, label):
    assert addresses.kind(ipaddress.ip_address(address)) == label


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "http or https"),
        ("https://", "host"),
        ("mailto:someone@example.com", "http or https"),
        ("https://user@example.com/", "user name"),
        ("https://example.com:99999/", "not a URL"),
        ("https://exa mple.com/", "spaces"),
        ("https://example.com/" + "x" * 2100, "2048"),
    ],
)
def test_urls_breaking_the_rules_are_refused(url, reason):
    with pytest.raises(addresses.UrlRefused, match=reason):
        addresses.parse(url)


async def test_the_guarded_resolver_refuses_a_name_with_any_private_address():
    fake = FakeResolver({"public.example": ["93.184.215.14"], "mixed.example": ["93.184.215.14", "10.0.0.1"]})
    guarded = addresses.GuardedResolver(fake, allow_private=False)
    assert [r["host"] for r in await guarded.resolve("public.example", 443)] == ["93.184.215.14"]
    with pytest.raises(addresses.AddressNotAllowed, match="mixed.example resolves to a private address") as refused:
        await guarded.resolve("mixed.example", 443)
    assert "10.0.0.1" not in str(refused.value)
    allowed = addresses.GuardedResolver(fake, allow_private=True)
    assert len(await allowed.resolve("mixed.example", 443)) == 2


async def test_vetting_resolves_names_and_judges_ip_literals_directly():
    fake = FakeResolver({"hooks.example": ["192.168.0.5"]})
    # The refusal names the kind of address, never what the name resolves to.
    with pytest.raises(addresses.UrlRefused, match="hooks.example resolves to a private address") as refused:
        await addresses.vet("https://hooks.example/x", resolver=fake, allow_private=False)
    assert "192.168" not in str(refused.value)
    with pytest.raises(addresses.UrlRefused, match="does not resolve"):
        await addresses.vet("https://unknown.example/x", resolver=fake, allow_private=False)
    url = await addresses.vet(
        "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:8443/x", resolver=fake, allow_private=False
    )
    assert url.port == 8443 and fake.asked == ["hooks.example", "unknown.example"]
