"""HTTP to URLs that merchants and publishers give us (webhooks, key generators, revoked-serial callbacks),
guarded against server-side request forgery.

Every new connection looks the host up once, checks every address it got against
resell.domain.addresses.is_public, and connects to one of those checked addresses: the name is never
looked up a second time, so DNS rebinding (a public answer for the check, a private one for the
connection) has nothing to work with. The request keeps the URL's name, so the Host header, the TLS SNI
and the certificate check are the name's. A refusal raises AddressRefused before any connection is
attempted. RESELL_WEBHOOK_ALLOW_PRIVATE=true (development, the test suite's loopback receivers) lets
private addresses through; connections are pinned all the same.

No proxy from the environment and no redirects: either would send the request somewhere unchecked.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpcore
import httpx

from resell.domain.addresses import (
    IPAddress,
    NotAnAddress,
    is_loopback_name,
    is_public,
    literal_address,
    normalized_host,
)


class AddressRefused(httpx.ConnectError):
    """The destination is not one resell may call (raised before any connection is attempted)."""


def resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host`: the one lookup of a connection (tests replace it)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def destinations(host: str, port: int, allow_private: bool) -> list[IPAddress]:
    """The addresses a connection to host:port may use, every one checked; AddressRefused otherwise."""
    try:
        literal = literal_address(host)
    except NotAnAddress:
        raise AddressRefused(f"refused: {host!r} is not a valid address") from None
    if literal is not None:
        found = [literal]
    elif is_loopback_name(host) and not allow_private:
        raise AddressRefused(f"refused: {host} is a loopback name")
    else:
        try:
            found = [ipaddress.ip_address(a) for a in resolve(normalized_host(host), port)]
        except (OSError, UnicodeError, ValueError) as exc:
            raise AddressRefused(f"refused: {host} does not resolve ({exc})") from None
        if not found:
            raise AddressRefused(f"refused: {host} does not resolve")
    if not allow_private:
        for address in found:
            if not is_public(address):
                if literal is None:
                    named = f"{host} resolves to "
                else:  # `2130706433 is 127.0.0.1`: say what a numeric spelling stands for
                    named = "" if normalized_host(host) == str(address) else f"{host} is "
                raise AddressRefused(f"refused: {named}{address}, which is not a public address")
    return found


def check_url_destination(url: str, allow_private: bool) -> None:
    """At registration: the URL's host must resolve to public addresses only (checked again at every
    connection, since DNS answers change)."""
    if allow_private:
        return
    parts = urlsplit(url)
    destinations(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80), allow_private)


class _PinnedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to the checked addresses of the one lookup."""

    def __init__(self, allow_private: bool):
        self.allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        failure: Exception | None = None
        for address in destinations(host, port, self.allow_private):
            try:
                return super().connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:  # the next address, as getaddrinfo users do
                failure = exc
        assert failure is not None
        raise failure


def transport(allow_private: bool) -> httpx.HTTPTransport:
    """httpx's transport with the pinned backend (httpx takes no backend argument: its pool is replaced)."""
    ssl_context = httpx.create_ssl_context()
    limits = httpx.Limits()
    pinned = httpx.HTTPTransport(verify=ssl_context, trust_env=False, limits=limits)
    pinned._pool = httpcore.ConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=_PinnedBackend(allow_private),
    )
    return pinned


def client(allow_private: bool, timeout: httpx.Timeout | float = 10.0) -> httpx.Client:
    """A client for merchants' and publishers' URLs: guarded, no redirects, no proxy."""
    return httpx.Client(transport=transport(allow_private), follow_redirects=False, trust_env=False, timeout=timeout)
