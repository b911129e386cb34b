"""Which network addresses resell may call on behalf of merchants and publishers (the SSRF rule), without I/O.

Webhook endpoints and publisher URLs are typed by people outside the operator's network; without this
rule the worker would POST to the operator's own database, cache or cloud metadata service. Only global
unicast addresses pass: loopback, private, shared (CGN), link-local, site-local, multicast, reserved,
documentation and unspecified ranges are refused, v4 and v6. IPv6 forms that carry an IPv4 address
(IPv4-mapped, the NAT64 well-known prefix, 6to4) are judged by the IPv4 address they lead to; the
deprecated IPv4-compatible form and Teredo are refused.

Hosts are also read the way resolvers read them: `2130706433`, `0177.0.0.1`, `0x7f.1` and `127.1` are all
127.0.0.1 to getaddrinfo, so they are parsed here as the same address (inet_aton rules).
"""

from __future__ import annotations

import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# RFC 6761: resolvers answer these with loopback without asking DNS.
LOOPBACK_NAMES = ("localhost", "localhost.localdomain")
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix: the last 32 bits are IPv4
TEREDO_PREFIX = ipaddress.IPv6Network("2001::/32")

# A host made only of numbers (decimal, 0-octal or 0x-hex) in one to four dotted parts: an IPv4 address
# to inet_aton, never a DNS name (no top-level domain is numeric).
_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}", re.IGNORECASE)


class NotAnAddress(ValueError):
    """A host that looks numeric but that no resolver reads the same way (`08.1`, `256.1.1.1`, `1.0x1000000`)."""


def _number(part: str) -> int:
    lowered = part.lower()
    if lowered.startswith("0x"):
        return int(lowered[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        if any(c in "89" for c in part):
            raise NotAnAddress(part)
        return int(part, 8)
    return int(part)


def _inet_aton(host: str) -> ipaddress.IPv4Address:
    """`a`, `a.b`, `a.b.c`, `a.b.c.d` as inet_aton reads them: the last part fills the remaining bytes."""
    values = [_number(part) for part in host.split(".")]
    last_bits = 8 * (5 - len(values))
    if any(v > 0xFF for v in values[:-1]) or values[-1] >= 1 << last_bits:
        raise NotAnAddress(host)
    value = values[-1]
    for index, v in enumerate(values[:-1]):
        value |= v << (24 - 8 * index)
    return ipaddress.IPv4Address(value)


def normalized_host(host: str) -> str:
    """Lower case, without IPv6 brackets or the root's trailing dot (`Example.COM.` and `example.com` are one host)."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host[:-1] if host.endswith(".") and not host.endswith("..") else host


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as an IP (in any form a resolver accepts) stands for; None for a name.
    Raises NotAnAddress for a numeric host that is not an address."""
    host = normalized_host(host)
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        return _inet_aton(host)
    return None


def is_loopback_name(host: str) -> bool:
    host = normalized_host(host)
    return host in LOOPBACK_NAMES or host.endswith(".localhost")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address leads to (mapped, NAT64, 6to4), if it carries one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def is_public(address: IPAddress) -> bool:
    """A global unicast address: one that resell may send a merchant's or a publisher's request to."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
        if address in TEREDO_PREFIX or address.is_site_local:
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_unspecified
    )
