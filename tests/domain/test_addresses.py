"""The SSRF address rule (resell.domain.addresses): which hosts resell may call, in every spelling resolvers accept."""

from __future__ import annotations

import ipaddress

import pytest

from resell.domain.addresses import NotAnAddress, is_loopback_name, is_public, literal_address
from resell.domain.signing import check_publisher_url

REFUSED = [
    "127.0.0.1",
    "127.255.255.254",
    "[::1]",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "0.0.0.0",
    "[::]",
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "[ff0e::1]",  # global-scope multicast is still multicast
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
    "[fc00::1]",  # unique local
    "[fe80::1]",  # link-local
    "[fe80::1%eth0]",
    "[fec0::1]",  # site-local (deprecated, still routed inside some networks)
    "[::ffff:169.254.169.254]",  # IPv4-mapped
    "[::ffff:127.0.0.1]",
    "[::127.0.0.1]",  # IPv4-compatible (deprecated)
    "[::8.8.8.8]",
    "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1
    "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
    "[2002:a00:1::]",  # 6to4 of 10.0.0.1
    "[2002:a9fe:a9fe::1]",  # 6to4 of 169.254.169.254
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",  # Teredo
    "2130706433",  # 127.0.0.1 as one decimal number
    "0177.0.0.1",  # octal
    "0x7f.0.0.1",  # hex
    "0x7f000001",
    "017700000001",
    "127.1",  # the short forms of inet_aton
    "127.0.1",
    "10.1",
    "0xa9.0xfe.0xa9.0xfe",
    "2852039166",  # 169.254.169.254
    "167772161",  # 10.0.0.1
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "[2606:4700:4700::1111]",
    "[::ffff:8.8.8.8]",  # mapped, NAT64 and 6to4 forms of a public address lead to that address
    "[64:ff9b::808:808]",
    "[2002:808:808::1]",
    "134744072",  # 8.8.8.8 as a number: the spelling does not matter, the address does
]


@pytest.mark.parametrize("host", REFUSED)
def test_every_non_public_address_in_every_spelling_is_refused(host: str) -> None:
    address = literal_address(host)
    assert address is not None and not is_public(address)


@pytest.mark.parametrize("host", PUBLIC)
def test_public_addresses_pass(host: str) -> None:
    address = literal_address(host)
    assert address is not None and is_public(address)


@pytest.mark.parametrize(
    ("host", "meant"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.0.258", "10.0.1.2"),
        ("0X7F.0.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),  # the root's trailing dot
        ("[::1]", "::1"),
    ],
)
def test_numeric_hosts_mean_what_inet_aton_makes_of_them(host: str, meant: str) -> None:
    assert literal_address(host) == ipaddress.ip_address(meant)


@pytest.mark.parametrize("host", ["08.0.0.1", "256.1.1.1", "1.0x1000000", "1.2.3.256", "4294967296"])
def test_numeric_hosts_that_no_resolver_reads_as_an_address_are_not_names_either(host: str) -> None:
    with pytest.raises(NotAnAddress):
        literal_address(host)


@pytest.mark.parametrize("host", ["example.com", "hooks.shop.example", "1x.example", "cafe", "deadbeef"])
def test_names_are_not_addresses(host: str) -> None:
    assert literal_address(host) is None


def test_localhost_names_are_loopback_without_asking_dns() -> None:
    assert is_loopback_name("localhost") and is_loopback_name("LOCALHOST.") and is_loopback_name("db.localhost")
    assert not is_loopback_name("localhost.example") and not is_loopback_name("notlocalhost")


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://keys.publisher.example/gen", True),
        ("http://localhost:9000/gen", True),
        ("http://127.0.0.1:9000/gen", True),
        ("http://[::1]:9000/gen", True),
        ("http://2130706433:9000/gen", True),  # loopback in another spelling: still this machine
        ("http://keys.publisher.example/gen", False),  # serials in clear over a network
        ("http://10.0.0.1/gen", False),
        ("ftp://localhost/gen", False),
    ],
)
def test_publisher_urls_are_https_or_plain_http_to_this_machine(url: str, accepted: bool) -> None:
    """The scheme rule of publisher URLs uses the same reading of hosts (whether they may be called at all
    is resell.outbound's question, at each call)."""
    if accepted:
        assert check_publisher_url(url) == url
    else:
        with pytest.raises(ValueError, match="publisher URLs must be https"):
            check_publisher_url(url)
