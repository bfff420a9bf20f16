"""Outbound HTTP to merchant-supplied hosts: never to internal addresses (SSRF guard).

A store URL comes from whoever opens the install page, so the app must not become a port scanner
for the network it runs in. Every address a host name resolves to must be a public unicast
address: loopback, private, link-local, multicast, reserved, unspecified, shared (CGNAT) and
documentation ranges are refused, for IPv4 and IPv6, and IPv6 addresses that embed an IPv4 address
(IPv4-mapped, 6to4, Teredo, NAT64) are judged by the embedded one. Odd notations (``0x7f000001``,
``2130706433``, ``127.1``) are judged after the resolver turned them into an address.

The check runs before the first connection and again on every connection (:func:`guarded_session`
connects to the address it checked, so a DNS answer that changes between check and connect —
DNS rebinding — cannot slip through). An operator can allow named hosts or addresses with
``STAMMKUNDE_ALLOW_HOSTS`` (comma-separated, e.g. ``127.0.0.1,localhost`` for a store on the
development machine and for the test suite's fake store).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from stammkunde.core.errors import UserError

ALLOW_HOSTS_ENV = "STAMMKUNDE_ALLOW_HOSTS"
REFUSED = "the store URL cannot be used: it must name a public web server that answers"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(UserError):
    """A host that resolves to an internal address or does not resolve (one generic message)."""

    def __init__(self, message: str = REFUSED) -> None:
        super().__init__(message)


def allowed_hosts(env: Mapping[str, str] | None = None) -> frozenset[str]:
    """Return the host names and addresses the operator allowed (``STAMMKUNDE_ALLOW_HOSTS``)."""
    env = os.environ if env is None else env
    raw = str(env.get(ALLOW_HOSTS_ENV) or "")
    return frozenset(h.strip().lower().strip("[]") for h in raw.split(",") if h.strip())


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """Return True for a globally routable unicast address (the only kind a store may have)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        inner = _embedded_v4(ip)
        if inner is not None and not is_public(inner):
            return False
    flags = [ip.is_loopback, ip.is_private, ip.is_link_local, ip.is_multicast, ip.is_reserved,
             ip.is_unspecified]
    if isinstance(ip, ipaddress.IPv6Address):
        flags.append(ip.is_site_local)
    return ip.is_global and not any(flags)


def public_addresses(host: str, port: int,
                     env: Mapping[str, str] | None = None) -> list[tuple[Any, ...]]:
    """Resolve a host and return its ``getaddrinfo`` entries; refuse any internal address.

    Every address must pass (a name with one public and one internal address is refused: the
    resolver's order decides which one a client would use). Allowed hosts skip the check.
    """
    name = host.strip("[]").rstrip(".").lower()
    if not name:
        raise AddressRefused
    allowed = allowed_hosts(env)
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise AddressRefused from exc
    if not infos:
        raise AddressRefused
    if name in allowed:
        return infos
    for info in infos:
        address = str(info[4][0]).split("%")[0]
        try:
            ip = ipaddress.ip_address(address)
        except ValueError as exc:
            raise AddressRefused from exc
        if not is_public(ip) and address not in allowed and str(ip) not in allowed:
            raise AddressRefused
    return infos


def check_url(url: str, env: Mapping[str, str] | None = None) -> None:
    """Refuse a URL whose host resolves to an internal address (before any connection)."""
    parts = requests.utils.urlparse(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise AddressRefused from exc
    public_addresses(parts.hostname or "", port, env)


class _Pinned:
    """Connect to the address that was checked, not to whatever DNS answers a moment later."""

    _dns_host: str
    port: int

    def _new_conn(self) -> socket.socket:
        infos = public_addresses(self._dns_host, self.port)
        original = self._dns_host
        self._dns_host = str(infos[0][4][0])  # the TLS layer still checks the host name
        try:
            return super()._new_conn()  # type: ignore[misc, no-any-return]
        finally:
            self._dns_host = original


class _PinnedHTTPConnection(_Pinned, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_Pinned, HTTPSConnection):
    pass


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests transport whose every connection goes to a checked public address."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Use connection pools that check and pin the address on each connect."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PinnedHTTPPool,
                                                   "https": _PinnedHTTPSPool}
        self.poolmanager.key_fn_by_scheme = dict(self.poolmanager.key_fn_by_scheme)


def guarded_session() -> requests.Session:
    """Return a requests session that only talks to public addresses (or allowed hosts)."""
    session = requests.Session()
    session.trust_env = False  # an environment proxy would bypass the address check
    adapter = GuardedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
