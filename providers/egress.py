"""Where the gateway may connect: a credential's `base_url` is a member-supplied, hostile address.

Checked twice: when the credential is saved (`url_check`, an early, readable refusal) and at every
connection (`GuardedConnector`, the enforcement). The connector checks the very addresses it is
about to connect to, after resolution, so a name that resolved to a public address at save time
and to 127.0.0.1 later (DNS rebinding), a redirect to loopback, or an IP in decimal/octal/IPv6
clothing is refused on the wire, not only on paper.

`BENCHHUB_PRIVATE_ENDPOINTS`: `deny` (production), `allow` (local and demo: the local model lives
on loopback), or a comma list of `host:port` that may be private. The database's and Redis's own
`host:port` are refused whatever the setting.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# NAT64's well-known prefix carries an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class EndpointRefused(ValueError):
    """The platform does not let provider calls reach this address."""


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form smuggles (::ffff:a.b.c.d, ::a.b.c.d, 6to4, Teredo, NAT64)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or (ip.packed[:12] == bytes(12) and int(ip) > 1):  # NAT64, deprecated ::a.b.c.d
        return ipaddress.IPv4Address(ip.packed[12:])
    return None


def is_private(address: str) -> bool:
    """True for anything not globally routable: RFC 1918, loopback, link-local (cloud metadata),
    CGNAT, unique-local, multicast, unspecified, reserved, and those inside IPv6 forms."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    inner = _embedded_ipv4(ip)
    if inner is not None and is_private(str(inner)):
        return True
    return not ip.is_global or ip.is_multicast or ip.is_unspecified


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise EndpointRefused("base_url must be an http(s) URL with a host")
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:
        raise EndpointRefused("base_url has an invalid port") from exc
    return parts.hostname.lower().rstrip("."), port


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({info[4][0] for info in infos})


@functools.cache
def _infrastructure(db: tuple[str, int] | None, redis: tuple[str, int] | None) -> frozenset[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    for endpoint in (db, redis):
        if endpoint is not None:
            host, port = endpoint
            found |= {(address, port) for address in [host, *_resolve(host, port)]}
    return frozenset(found)


def _infrastructure_endpoints() -> frozenset[tuple[str, int]]:
    """The database's and Redis's host:port, with every address their names resolve to."""
    database = settings.DATABASES["default"]
    db = None
    if "postgresql" in database.get("ENGINE", "") and database.get("HOST", "") and not database["HOST"].startswith("/"):
        db = (str(database["HOST"]).lower(), int(database.get("PORT") or 5432))
    redis = None
    if settings.REDIS_URL:
        parts = urlsplit(settings.REDIS_URL)
        if parts.hostname:
            redis = (parts.hostname.lower(), parts.port or 6379)
    return _infrastructure(db, redis)


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address == "localhost"
    inner = _embedded_ipv4(ip)
    return ip.is_loopback or ip.is_unspecified or bool(inner and (inner.is_loopback or inner.is_unspecified))


def _is_infrastructure(address: str, port: int) -> bool:
    infra = _infrastructure_endpoints()
    if (address, port) in infra:
        return True
    # Every loopback spelling (127.0.0.2, ::1, 0.0.0.0, ::ffff:127.0.0.1) reaches a loopback listener.
    return _is_loopback(address) and any(p == port and _is_loopback(a) for a, p in infra)


def _private_allowed(host: str, address: str, port: int) -> bool:
    mode = str(settings.BENCHHUB_PRIVATE_ENDPOINTS).strip().lower()
    if mode == "allow":
        return True
    if mode == "deny":
        return False
    allowed = {entry.strip().lower() for entry in mode.split(",") if entry.strip()}
    return f"{host}:{port}" in allowed or f"{address}:{port}" in allowed or f"[{address}]:{port}" in allowed


def addresses_check(*, host: str, port: int, addresses: Iterable[str]) -> None:
    """Raise `EndpointRefused` unless every address `host` resolved to may be reached on `port`."""
    for address in addresses:
        if _is_infrastructure(address, port):
            raise EndpointRefused(f"{host}:{port} is one of the platform's own services")
        if is_private(address) and not _private_allowed(host, address, port):
            raise EndpointRefused(
                f"{host}:{port} resolves to a private, loopback or link-local address ({address}); "
                "the platform does not allow private endpoints"
            )


def url_check(url: str) -> None:
    """At save time: refuse a base_url whose host resolves to an address calls may not reach.

    A name that does not resolve from here is accepted: it cannot be called either, and the
    connector checks again at every connection."""
    host, port = _host_port(url)
    addresses_check(host=host, port=port, addresses=[host] if _is_ip(host) else _resolve(host, port))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def refusal_in(exc: BaseException) -> EndpointRefused | None:
    """The `EndpointRefused` behind an SDK's connection error, if that is what it was."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, EndpointRefused):
            return current
        current = current.__cause__ or current.__context__
    return None


class GuardedConnector(aiohttp.TCPConnector):
    """Checks the resolved addresses right before connecting to them (the same list, so pinned)."""

    async def _resolve_host(self, host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:  # type: ignore[override]
        results = await super()._resolve_host(host, port, *args, **kwargs)
        addresses_check(host=host.lower().rstrip("."), port=port, addresses=[r["host"] for r in results])
        return results
