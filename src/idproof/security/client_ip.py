"""Client IP resolution that trusts X-Forwarded-For only from configured proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=64)
def parse_networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _in(ip: str, networks: Iterable[Network]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in n for n in networks)


def resolve_client_ip(peer: str | None, forwarded_for: str | None,
                      trusted_proxies: tuple[str, ...]) -> str:
    """The socket peer, unless it is a trusted proxy; then the rightmost untrusted XFF hop.

    Reading from the right matters: everything left of the last trusted proxy was written by
    the client itself and can be forged.
    """
    peer = peer or "unknown"
    if not trusted_proxies or not forwarded_for:
        return peer
    nets = parse_networks(trusted_proxies)
    if not _in(peer, nets):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            # A malformed hop cannot be trusted to be anything; stop at the last good one.
            return peer
        if not _in(hop, nets):
            return hop
    return hops[0] if hops else peer


def is_trusted_proxy(peer: str | None, trusted_proxies: tuple[str, ...]) -> bool:
    """True when the socket peer is one of the configured reverse proxies."""
    return bool(peer and trusted_proxies and _in(peer, parse_networks(trusted_proxies)))


def ip_allowed(ip: str, allowlist: list[str] | tuple[str, ...]) -> bool:
    """True when the list is empty (no restriction) or the IP falls in one of its CIDRs."""
    if not allowlist:
        return True
    return _in(ip, parse_networks(tuple(allowlist)))


def validate_cidrs(cidrs: Iterable[str]) -> list[str]:
    """Normalise CIDRs, raising ValueError on a malformed one."""
    return [str(ipaddress.ip_network(c.strip(), strict=False)) for c in cidrs]
