"""Where a webhook may send: the URL rules and the refusal of non-public addresses.

A webhook URL is http or https, at most 2,048 characters, with a host and no
user name or password. Unless WEBHOOK_ALLOW_PRIVATE_URLS=true, every address
its host resolves to must be a public one: a single loopback, private,
link-local, multicast, reserved or unspecified address (also inside an
IPv4-mapped, 6to4 or Teredo IPv6 address) refuses the whole URL.

It is checked twice. When the URL is saved (`vet`), so the reseller hears of
it at once (422 `url_not_allowed`). And on every connection the sender opens:
`GuardedResolver` sits inside the sender's HTTP client, so the addresses it
checks are the very ones the client connects to. A name that resolved to a
public address yesterday and resolves to 127.0.0.1 today (DNS rebinding) is
refused at delivery, and nothing can change between the check and the connect.

A refusal never says what a name resolves to (the reseller would learn the
addresses of the platform's network); it names the kind of address only.
Names are resolved with c-ares (aiohttp's AsyncResolver, aiodns): no thread
of the default executor waits on a DNS server that never answers, and every
lookup ends within RESOLVE_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import AsyncResolver
from yarl import URL

from service.limits import MAX_URL_LENGTH

SCHEMES = ("http", "https")
RESOLVE_TIMEOUT_SECONDS = 5.0
# c-ares's own bound per attempt; two attempts fit in RESOLVE_TIMEOUT_SECONDS.
_DNS_TRY_SECONDS = 2.0
_DNS_TRIES = 2

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(ValueError):
    """The URL may not be a webhook's; the message says why."""


class AddressNotAllowed(OSError):
    """Raised inside the HTTP client's resolver: the connection never starts."""


def parse(raw: str) -> URL:
    """The URL, or UrlRefused for one that breaks the URL rules."""
    if len(raw) > MAX_URL_LENGTH:
        raise UrlRefused(f"must be at most {MAX_URL_LENGTH} characters")
    if any(ord(c) < 0x21 or c == "\x7f" for c in raw):
        raise UrlRefused("must not contain spaces or control characters")
    try:
        url = URL(raw)
        scheme, host, port = url.scheme, url.host, url.port
    except (ValueError, TypeError, UnicodeError):
        raise UrlRefused("is not a URL") from None
    if scheme not in SCHEMES:
        raise UrlRefused("must be an http or https URL")
    if not host:
        raise UrlRefused("must name a host")
    if url.user is not None or url.password is not None:
        raise UrlRefused("must not carry a user name or password; verify the signature instead")
    if port is None or not 0 < port < 65536:
        raise UrlRefused("has no valid port")
    return url


def _embedded(address: Address) -> list[Address]:
    """The address and any IPv4 address an IPv6 one carries."""
    found: list[Address] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        for inner in (address.ipv4_mapped, address.sixtofour, *(address.teredo or ())):
            if inner is not None:
                found.append(inner)
    return found


def kind(address: Address) -> str | None:
    """Why an address is not public ("loopback", "private", ...), or None if it is."""
    for candidate in _embedded(address):
        for label, flag in (
            ("unspecified", candidate.is_unspecified),
            ("loopback", candidate.is_loopback),
            ("link-local", candidate.is_link_local),
            ("multicast", candidate.is_multicast),
            # fec0::/10, deprecated (RFC 3879) but still routed inside some networks;
            # ipaddress counts it as global.
            ("site-local", isinstance(candidate, ipaddress.IPv6Address) and candidate.is_site_local),
            ("private", candidate.is_private),
            ("reserved", candidate.is_reserved),
        ):
            if flag:
                return label
        if not candidate.is_global:
            return "non-public"
    return None


def literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def refuse_private(host: str, addresses: list[str]) -> None:
    """UrlRefused naming the kind of the first address that is not public (never
    the address a name resolves to)."""
    if not addresses:
        raise UrlRefused(f"host {host} does not resolve")
    for raw in addresses:
        address = literal(raw)
        if address is None:
            raise UrlRefused(f"host {host} does not resolve to an IP address")
        label = kind(address)
        if label is not None:
            shown = f"{host} is" if host == raw else f"host {host} resolves to"
            raise UrlRefused(f"{shown} a {label} address, and only public ones are allowed")


async def resolve(resolver: AbstractResolver, host: str, port: int) -> list[str]:
    """Every address `host` resolves to; UrlRefused when it does not resolve in time."""
    try:
        results = await asyncio.wait_for(
            resolver.resolve(host, port, family=socket.AF_UNSPEC), RESOLVE_TIMEOUT_SECONDS
        )
    except TimeoutError:
        raise UrlRefused(f"host {host} did not resolve within {RESOLVE_TIMEOUT_SECONDS:g} s") from None
    except (OSError, UnicodeError, ValueError):
        raise UrlRefused(f"host {host} does not resolve") from None
    return [result["host"] for result in results]


async def vet(raw: str, *, resolver: AbstractResolver, allow_private: bool) -> URL:
    """The URL when a webhook may send to it; UrlRefused otherwise."""
    url = parse(raw)
    if allow_private:
        return url
    host = url.raw_host or ""
    addresses = [host] if literal(host) is not None else await resolve(resolver, host, url.port or 0)
    refuse_private(host, addresses)
    return url


def new_resolver() -> AsyncResolver:
    """The resolver of outbound calls (webhooks, fulfillment connectors): asynchronous,
    bounded in time. Made on the running loop; the caller closes it."""
    return AsyncResolver(timeout=_DNS_TRY_SECONDS, tries=_DNS_TRIES)


class GuardedResolver(AbstractResolver):
    """The sender's resolver: answers only with public addresses, or refuses.

    The HTTP client connects to exactly what this returns, so the check and
    the connection see the same addresses. IP literals never reach a resolver
    (aiohttp connects to them directly); the sender checks those itself."""

    def __init__(self, inner: AbstractResolver, *, allow_private: bool) -> None:
        self._inner = inner
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not self._allow_private:
            try:
                refuse_private(host, [result["host"] for result in results])
            except UrlRefused as exc:
                raise AddressNotAllowed(str(exc)) from None
        return results

    async def close(self) -> None:
        await self._inner.close()
