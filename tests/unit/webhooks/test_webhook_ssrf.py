"""The SSRF guard: every inward address refused in every spelling; public https accepted."""

from __future__ import annotations

import ipaddress

import pytest

from idproof.webhooks.ssrf import (
    UrlNotAllowed,
    check_url,
    forbidden_reason,
    parse_ip_literal,
    parse_ipv4_loose,
    resolve,
)

INWARD_HOSTS = [
    # loopback, every spelling a C resolver accepts
    "127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0x7f.0x0.0x0.0x1",
    "0177.0.0.1", "0177.0000.0000.0001", "017700000001", "127.000.000.001", "127.0.0.1.",
    "127.255.255.254", "0x7f.1",
    # unspecified
    "0.0.0.0", "0", "0x0", "[::]",
    # private
    "10.0.0.1", "012.0.0.1", "167772161", "0xa000001", "172.16.0.1", "172.31.255.255",
    "192.168.1.1", "0xc0.0xa8.1.1", "3232235777",
    # link-local and cloud metadata
    "169.254.169.254", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "169.254.0.1",
    "[fe80::1]", "[fd00:ec2::254]", "100.100.100.200", "192.0.0.192",
    # CGNAT
    "100.64.0.1", "100.127.255.254",
    # multicast, broadcast, reserved, documentation, benchmarking
    "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1", "192.0.2.1",
    "198.18.0.1", "198.51.100.7", "203.0.113.9",
    # IPv6 loopback, ULA, multicast, site-local
    "[::1]", "[0:0:0:0:0:0:0:1]", "[fc00::1]", "[fd12:3456::1]", "[ff02::1]", "[ff0e::1]",
    "[fec0::1]",
    # IPv4 inside IPv6: mapped, compatible, NAT64, 6to4, Teredo
    "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::ffff:169.254.169.254]",
    "[::ffff:a9fe:a9fe]", "[::ffff:10.0.0.1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]",
    "[64:ff9b::a9fe:a9fe]", "[2002:7f00:1::]", "[2002:a9fe:a9fe::1]",
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]",  # Teredo client 127.0.0.1
]


@pytest.mark.parametrize("host", INWARD_HOSTS)
def test_inward_addresses_refused(host: str) -> None:
    with pytest.raises(UrlNotAllowed) as exc:
        resolve(f"https://{host}/hook", resolver=_no_dns)
    assert exc.value.reason not in {"invalid_url", "scheme", "unresolvable"}, exc.value.reason


@pytest.mark.parametrize("host", ["8.8.8.8", "134744072", "0x8080808", "010.010.010.010",
                                  "[2606:4700:4700::1111]", "[::ffff:8.8.8.8]",
                                  "[64:ff9b::808:808]"])
def test_public_addresses_pass(host: str) -> None:
    target = resolve(f"https://{host}:8443/h?x=1", resolver=_no_dns)
    assert ipaddress.ip_address(target.ip).is_global and target.port == 8443


def _no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"a literal must not be looked up: {host}")


def test_loose_ipv4_parsing() -> None:
    assert str(parse_ipv4_loose("127.1")) == "127.0.0.1"
    assert str(parse_ipv4_loose("0x7f.0.0.1")) == "127.0.0.1"
    assert str(parse_ipv4_loose("2130706433")) == "127.0.0.1"
    assert str(parse_ipv4_loose("10.1.257")) == "10.1.1.1"
    assert parse_ipv4_loose("256.0.0.1") is None
    assert parse_ipv4_loose("1.2.3.4.5") is None
    assert parse_ipv4_loose("example.com") is None
    assert parse_ipv4_loose("08.0.0.1") is None  # 8 is not an octal digit
    assert str(parse_ip_literal("[fe80::1%eth0]")) == "fe80::1"


def test_names_resolving_inward_are_refused() -> None:
    with pytest.raises(UrlNotAllowed) as exc:
        resolve("https://localhost/hook")  # the real resolver: /etc/hosts says loopback
    assert exc.value.reason == "loopback"
    # one inward answer among public ones is enough to refuse (no choosing)
    with pytest.raises(UrlNotAllowed) as exc:
        resolve("https://mixed.example/hook",
                resolver=lambda h, p: ["93.184.216.34", "10.0.0.8"])
    assert exc.value.reason == "private"
    with pytest.raises(UrlNotAllowed) as exc:
        resolve("https://metadata.example/hook", resolver=lambda h, p: ["::ffff:a9fe:a9fe"])
    assert exc.value.reason == "metadata"


def test_unresolvable_is_refused() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise OSError("no such name")

    with pytest.raises(UrlNotAllowed) as exc:
        resolve("https://nowhere.invalid/hook", resolver=fail)
    assert exc.value.reason == "unresolvable"


@pytest.mark.parametrize("url,reason", [
    ("http://8.8.8.8/hook", "scheme"),
    ("ftp://8.8.8.8/hook", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("https://user:pw@8.8.8.8/hook", "credentials"),
    ("https://8.8.8.8@127.0.0.1/hook", "credentials"),
    ("https:///hook", "invalid_url"),
    ("https://8.8.8.8:99999/", "invalid_url"),
    ("https://8.8.8.8/ho ok", "invalid_url"),
    ("https://8.8.8.8/#frag", "invalid_url"),
])
def test_bad_urls(url: str, reason: str) -> None:
    with pytest.raises(UrlNotAllowed) as exc:
        check_url(url)
    assert exc.value.reason == reason


def test_allow_private_networks() -> None:
    t = resolve("http://127.0.0.1:9000/hook", allow_private=True)
    assert t.ip == "127.0.0.1" and t.scheme == "http"
    assert resolve("https://[::ffff:10.0.0.1]/", allow_private=True).ip == "::ffff:a00:1"
    # metadata stays refused even then: no development setup needs it
    for host in ("169.254.169.254", "0xa9fea9fe", "[::ffff:169.254.169.254]"):
        with pytest.raises(UrlNotAllowed):
            resolve(f"http://{host}/", allow_private=True)
    assert forbidden_reason(ipaddress.ip_address("10.0.0.1"), allow_private=True) is None


# Cloud metadata and host services (instance metadata, DNS, time, agents): every provider's,
# in every spelling, and in both modes.
HOST_SERVICES = [
    "168.63.129.16", "2822734096", "[::ffff:168.63.129.16]",  # Azure WireServer / DNS
    "169.254.169.253", "169.254.169.123", "169.254.170.2", "169.254.170.23",  # AWS
    "[fd00:ec2::253]", "[fd00:ec2::123]", "[fd00:ec2::23]",  # AWS IPv6 DNS, time, EKS agent
    "169.254.0.23",  # Tencent
    "169.254.42.42",  # Scaleway
    "100.100.100.200", "100.100.2.136",  # Alibaba metadata and DNS
    "[fe80::a9fe:a9fe]",  # link-local IPv6 host services
]


@pytest.mark.parametrize("host", HOST_SERVICES)
@pytest.mark.parametrize("allow_private", [False, True])
def test_host_service_addresses_refused_in_every_mode(host: str, allow_private: bool) -> None:
    scheme = "http" if allow_private else "https"
    with pytest.raises(UrlNotAllowed) as exc:
        resolve(f"{scheme}://{host}/hook", allow_private=allow_private, resolver=_no_dns)
    assert exc.value.reason == "metadata", exc.value.reason
    with pytest.raises(UrlNotAllowed):
        resolve(f"{scheme}://hook.example/", allow_private=allow_private,
                resolver=lambda h, p: [host.strip("[]")])


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize("port", ["0", "00", "000"])
def test_port_zero_refused(port: str, allow_private: bool) -> None:
    # it used to fall back to 443 silently: the URL would not be the one that is called
    with pytest.raises(UrlNotAllowed) as exc:
        resolve(f"https://8.8.8.8:{port}/hook", allow_private=allow_private, resolver=_no_dns)
    assert exc.value.reason == "invalid_url"
