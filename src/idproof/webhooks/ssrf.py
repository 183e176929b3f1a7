"""SSRF guard: which webhook URLs and addresses may be called, and the address to connect to.

A URL is checked, its host resolved once, every address checked, and the delivery connects
to a checked address (no second lookup a DNS rebinding could answer differently). Host
spellings that C resolvers accept (decimal `2130706433`, octal `0177.1`, hex `0x7f.0.0.1`,
IPv6, IPv4-mapped/NAT64/6to4 IPv6) are normalised here first, so none slips through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance-metadata and host services (metadata, DNS, time sync, platform agents):
# refused even when private networks are allowed, since no development setup delivers
# webhooks to them and reaching them leaks credentials or talks to the host itself.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Hetzner, Oracle (v2)
    "168.63.129.16",  # Azure WireServer: DNS, health probes, the VM agent's host channel
    "100.100.100.200",  # Alibaba Cloud
    "192.0.0.192",  # Oracle Cloud
))
METADATA_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = tuple(
    ipaddress.ip_network(n) for n in (
        # IPv4 link-local: where every cloud puts its host services (AWS 169.254.169.253 DNS
        # and .123 time, ECS 169.254.170.2, EKS 169.254.170.23, Tencent 169.254.0.23,
        # Scaleway 169.254.42.42, ...); nothing a webhook receiver should ever be.
        "169.254.0.0/16",
        "fe80::/10",  # IPv6 link-local, for the same reason
        "fd00:ec2::/32",  # AWS IPv6 host services (metadata ::254, DNS ::253, time ::123)
        "100.100.0.0/16",  # Alibaba Cloud services (metadata, DNS 100.100.2.136/138, NTP)
    ))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
MAX_URL_LENGTH = 2048

Resolver = Callable[[str, int], list[str]]


class UrlNotAllowed(ValueError):
    """The URL may not be called; `reason` is a short stable code safe to show."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: where to connect (`ip`) and what to present (`host` for Host and SNI)."""

    url: str
    scheme: str
    host: str
    port: int
    ip: str


def _parse_ipv4_part(part: str) -> int:
    if not part:
        raise ValueError("empty part")
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part[0] == "0":
        return int(part[1:], 8)
    if not part.isdigit():
        raise ValueError("not a number")
    return int(part, 10)


def parse_ipv4_loose(host: str) -> ipaddress.IPv4Address | None:
    """The address an `inet_aton`-style parser reads from `host` (1 to 4 parts, each decimal,
    octal or hex, the last filling the remaining bytes), or None when it is not one."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    try:
        nums = [_parse_ipv4_part(p) for p in parts]
    except ValueError:
        return None
    *head, last = nums
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = 0
    for n in head:
        value = value << 8 | n
    value = value << (8 * (4 - len(head))) | last
    return ipaddress.IPv4Address(value)


def parse_ip_literal(host: str) -> IPAddress | None:
    """`host` as an IP address in any spelling, or None for a name."""
    h = host.strip().rstrip(".").strip("[]")
    if "%" in h:  # an IPv6 zone id ("fe80::1%eth0"): link-local by construction
        h = h.split("%", 1)[0]
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        pass
    return parse_ipv4_loose(h)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    # IPv4-compatible (deprecated) "::a.b.c.d"
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip))
    return None


def forbidden_reason(ip: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why `ip` may not be called (a short code), or None when it may."""
    if ip in METADATA_ADDRESSES or any(ip in net for net in METADATA_NETWORKS
                                       if net.version == ip.version):
        return "metadata"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return forbidden_reason(inner, allow_private=allow_private)
    if allow_private:
        return None
    checks: tuple[tuple[str, bool], ...] = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link_local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("cgnat", isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT),
        ("reserved", ip.is_reserved),
        ("site_local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
    )
    for reason, hit in checks:
        if hit:
            return reason
    if not ip.is_global:  # documentation, benchmarking and other special-purpose ranges
        return "not_global"
    return None


def check_url(url: str, *, allow_private: bool = False) -> tuple[str, str, int]:
    """Syntax and scheme checks only (no lookup): returns (scheme, host, port)."""
    if len(url) > MAX_URL_LENGTH or any(c.isspace() for c in url) or not url.isprintable():
        raise UrlNotAllowed("invalid_url", "the URL is not valid")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlNotAllowed("invalid_url", "the URL is not valid") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UrlNotAllowed("scheme", "the URL must use https")
    if scheme == "http" and not allow_private:
        raise UrlNotAllowed("scheme", "the URL must use https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UrlNotAllowed("credentials", "the URL must not contain credentials")
    host = parts.hostname
    if not host:
        raise UrlNotAllowed("invalid_url", "the URL has no host")
    if parts.fragment:
        raise UrlNotAllowed("invalid_url", "the URL must not have a fragment")
    if port == 0:
        # Not "the default port": a client library would send it to 443 or 80 while the URL
        # says something else, and some stacks connect to port 0 as "any".
        raise UrlNotAllowed("invalid_url", "the URL's port must be 1-65535")
    return scheme, host, port or (443 if scheme == "https" else 80)


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def resolve(url: str, *, allow_private: bool = False,
            resolver: Resolver = system_resolver) -> Target:
    """Check `url`, resolve its host once and check every address; the Target pins one.

    All addresses must pass: a name answering one public and one private address is refused,
    since which one a client would use is not ours to choose.
    """
    scheme, host, port = check_url(url, allow_private=allow_private)
    literal = parse_ip_literal(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            found = resolver(host, port)
        except (OSError, UnicodeError):
            raise UrlNotAllowed("unresolvable", "the URL's host does not resolve") from None
        addresses = []
        for a in found:
            parsed = parse_ip_literal(a)
            if parsed is None:
                raise UrlNotAllowed("unresolvable", "the URL's host does not resolve")
            addresses.append(parsed)
        if not addresses:
            raise UrlNotAllowed("unresolvable", "the URL's host does not resolve")
    for ip in addresses:
        reason = forbidden_reason(ip, allow_private=allow_private)
        if reason is not None:
            raise UrlNotAllowed(reason, "the URL points to an address that may not be called "
                                        f"({reason.replace('_', ' ')})")
    return Target(url=url, scheme=scheme, host=host, port=port, ip=str(addresses[0]))
