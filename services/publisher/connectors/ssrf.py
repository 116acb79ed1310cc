"""SSRF guard for URLs that users give (webhook targets, Mastodon instances).

A URL is refused when its scheme is not http(s) or when any address its host resolves to
is not a public unicast address, unless the host name or a CIDR covering the address is
allow-listed. The check runs after DNS resolution and again on every request the HTTP
client sends (redirects included) through `UrlGuard.on_request`, an httpx event hook.

Limit: the hook resolves the name, then the transport resolves it again to connect, so a
DNS answer that changes in between (rebinding) is not caught here; egress filtering at the
network edge is the backstop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# host, port -> the addresses a connection could reach (as text).
Resolver = Callable[[str, int], list[str]]

ALLOWED_SCHEMES = ("http", "https")

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeUrl(ValueError):
    """The URL must not be fetched: it could reach internal services."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def system_resolve(host: str, port: int) -> list[str]:
    """All addresses getaddrinfo gives for `host` (blocking; run it off the event loop)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeUrl(f"host {host!r} does not resolve: {exc}") from exc
    return sorted({str(info[4][0]) for info in infos})


def unsafe_reason(address: IPAddress) -> str | None:
    """Why this address must not be reached, or None for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        # v6 forms that carry a v4 address are judged by the v4 address they reach.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = unsafe_reason(embedded)
            return f"IPv6-embedded {inner}" if inner else None
    if address.is_unspecified:
        return "unspecified address"
    if address.is_loopback:
        return "loopback address"
    if address.is_link_local:
        return "link-local address"
    if address.is_multicast:
        return "multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "carrier-grade NAT address"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local address"
    if address.is_private:
        # Covers RFC 1918, IPv6 ULA fc00::/7, documentation and benchmark ranges.
        return "private address"
    if address.is_reserved or not address.is_global:
        return "reserved address"
    return None


def _parse_allow_list(allow_list: Iterable[str]) -> tuple[frozenset[str], tuple[Network, ...]]:
    hosts: set[str] = set()
    networks: list[Network] = []
    for entry in allow_list:
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return frozenset(hosts), tuple(networks)


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_url(url: str, allow_list: list[str], *, resolve: Resolver = system_resolve) -> None:
    """Raise UnsafeUrl unless `url` is http(s) and reaches only public (or allow-listed) hosts."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeUrl(f"scheme {scheme or '(none)'!r} is not allowed; use http or https")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeUrl(f"invalid port: {exc}") from exc
    check_host(parts.hostname or "", port, allow_list, resolve=resolve)


def check_host(
    host: str, port: int, allow_list: list[str], *, resolve: Resolver = system_resolve
) -> None:
    """Raise UnsafeUrl unless every address `host` resolves to is public or allow-listed.

    Used directly for non-HTTP targets (an SMTP relay)."""
    host = host.lower().rstrip(".")
    if not host:
        raise UnsafeUrl("URL has no host")
    allowed_hosts, allowed_networks = _parse_allow_list(allow_list)
    if host in allowed_hosts:
        return

    literal = _literal_address(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        resolved = resolve(host, port)
        if not resolved:
            raise UnsafeUrl(f"host {host!r} does not resolve")
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]

    for address in addresses:
        if any(address in net for net in allowed_networks if net.version == address.version):
            continue
        reason = unsafe_reason(address)
        if reason is not None:
            raise UnsafeUrl(f"{host} resolves to {address}, a {reason}")


@dataclass(frozen=True)
class UrlGuard:
    """The allow-list and resolver in one object, usable directly or as an httpx hook."""

    allow_list: tuple[str, ...] = ()
    resolve: Resolver = field(default=system_resolve)

    def check(self, url: str) -> None:
        check_url(url, list(self.allow_list), resolve=self.resolve)

    async def acheck(self, url: str) -> None:
        # getaddrinfo blocks, so it runs in a worker thread.
        await asyncio.to_thread(self.check, url)

    async def acheck_host(self, host: str, port: int) -> None:
        await asyncio.to_thread(check_host, host, port, list(self.allow_list), resolve=self.resolve)

    async def on_request(self, request: httpx.Request) -> None:
        """httpx `request` event hook: runs before every request, each redirect hop included."""
        await self.acheck(str(request.url))
