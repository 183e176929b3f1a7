"""IP intelligence (pure): parse the importable dataset files, look addresses up in them."""

# Formats (documented in docs/api/signals.md), all UTF-8 text, `#` starting a comment line:
# - geoip: CSV with a header `network,country,asn,org` (country ISO alpha-2, asn and org
#   optional); `network` a CIDR (`203.0.113.0/24`, `2001:db8::/32`) or `first-last`.
# - tor: Tor's `exit-addresses` file (`ExitAddress 1.2.3.4 2024-...` lines) or one address
#   per line.
# - datacenter, vpn: one CIDR (or `first-last`) per line, optionally `,provider name`.

from __future__ import annotations

import csv
import ipaddress
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

KINDS = ("geoip", "tor", "datacenter", "vpn")
MAX_LINE = 4096


class DatasetError(Exception):
    """The file is not in the documented format; nothing of it is loaded."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class IpRange:
    first: int  # IPv4 addresses as IPv4-mapped IPv6 integers: one ordered space
    last: int
    country: str | None = None
    asn: int | None = None
    org: str | None = None


@dataclass(frozen=True, slots=True)
class IpFacts:
    """What the datasets say of one address (None/False when no dataset covers it)."""

    country: str | None = None
    asn: int | None = None
    org: str | None = None
    datacenter: bool = False
    vpn: bool = False
    tor: bool = False


_V4_MAPPED = 0xFFFF << 32


def to_int(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    if isinstance(address, ipaddress.IPv4Address):
        return _V4_MAPPED | int(address)
    mapped = address.ipv4_mapped
    return _V4_MAPPED | int(mapped) if mapped is not None else int(address)


def parse_ip(text: str) -> int | None:
    """The address as one integer, or None when it is not an IP address."""
    try:
        return to_int(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def hex32(value: int) -> str:
    return f"{value:032x}"


def _network(text: str, line: int) -> tuple[int, int]:
    text = text.strip()
    try:
        if "-" in text:
            a, b = (ipaddress.ip_address(p.strip()) for p in text.split("-", 1))
            first, last = to_int(a), to_int(b)
            if first > last or a.version != b.version:
                raise ValueError
            return first, last
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise DatasetError("network_invalid", f"line {line}: not a network or range") from None
    return to_int(net.network_address), to_int(net.broadcast_address)


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, str]]:
    n = 0
    while True:
        raw = stream.readline(MAX_LINE + 1)
        if not raw:
            return
        n += 1
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            raise DatasetError("line_too_long", f"line {n}: longer than {MAX_LINE} bytes")
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise DatasetError("encoding_invalid", f"line {n}: not UTF-8") from None
        if n == 1:
            line = line.removeprefix("\ufeff")
        if any(ord(c) < 32 and c != "\t" for c in line):
            raise DatasetError("control_characters", f"line {n}: control characters")
        if line and not line.startswith("#"):
            yield n, line


def parse_geoip(stream: IO[bytes]) -> Iterator[IpRange]:
    rows = _lines(stream)
    first = next(rows, None)
    if first is None or [c.strip().lower() for c in first[1].split(",")][:2] != [
            "network", "country"]:
        raise DatasetError("header_invalid", "line 1: expected network,country,asn,org")
    for n, line in rows:
        cells = next(csv.reader([line]))
        if not 2 <= len(cells) <= 4:
            raise DatasetError("columns_invalid", f"line {n}: 2 to 4 columns expected")
        lo, hi = _network(cells[0], n)
        country = cells[1].strip().upper() or None
        if country is not None and not (len(country) == 2 and country.isascii()
                                        and country.isalpha()):
            raise DatasetError("country_invalid", f"line {n}: country is ISO alpha-2")
        asn_text = cells[2].strip().upper().removeprefix("AS") if len(cells) > 2 else ""
        if asn_text and not asn_text.isdigit():
            raise DatasetError("asn_invalid", f"line {n}: asn is a number")
        org = cells[3].strip()[:200] if len(cells) > 3 else ""
        yield IpRange(lo, hi, country, int(asn_text) if asn_text else None, org or None)


def parse_tor(stream: IO[bytes]) -> Iterator[IpRange]:
    for n, line in _lines(stream):
        word, _, rest = line.partition(" ")
        if word in ("ExitNode", "Published", "LastStatus"):
            continue  # the other lines of Tor's exit-addresses format
        text = rest.split(" ", 1)[0] if word == "ExitAddress" else line
        value = parse_ip(text)
        if value is None:
            raise DatasetError("address_invalid", f"line {n}: not an IP address")
        yield IpRange(value, value)


def parse_ranges(stream: IO[bytes]) -> Iterator[IpRange]:
    for n, line in _lines(stream):
        net, _, org = line.partition(",")
        lo, hi = _network(net, n)
        yield IpRange(lo, hi, org=org.strip()[:200] or None)


def parse(kind: str, stream: IO[bytes]) -> Iterator[IpRange]:
    if kind == "geoip":
        return parse_geoip(stream)
    if kind == "tor":
        return parse_tor(stream)
    if kind in ("datacenter", "vpn"):
        return parse_ranges(stream)
    raise DatasetError("kind_unknown", f"unknown dataset; use one of {', '.join(KINDS)}")


class RangeTable:
    """Ranges sorted by their first address; a lookup is one binary search. Overlaps are
    resolved in favour of the most specific (latest-starting) range that holds the address."""

    def __init__(self, ranges: Iterable[IpRange]) -> None:
        self._ranges = sorted(ranges, key=lambda r: (r.first, -r.last))
        self._firsts = [r.first for r in self._ranges]

    def __len__(self) -> int:
        return len(self._ranges)

    def find(self, value: int) -> IpRange | None:
        i = bisect_right(self._firsts, value) - 1
        # Walk back over ranges starting earlier that may still cover the address (nested
        # networks); bounded, as real datasets nest a few levels at most.
        for j in range(i, max(i - 8, -1), -1):
            r = self._ranges[j]
            if r.first <= value <= r.last:
                return r
        return None


class IpIntel:
    """The active datasets of each kind, queried together."""

    def __init__(self, tables: dict[str, RangeTable]) -> None:
        self._tables = tables

    def lookup(self, address: str) -> IpFacts | None:
        """The facts of `address`, or None when it is not an IP address."""
        value = parse_ip(address)
        if value is None:
            return None
        geo = self._tables["geoip"].find(value) if "geoip" in self._tables else None
        dc = self._tables["datacenter"].find(value) if "datacenter" in self._tables else None

        def has(kind: str) -> bool:
            table = self._tables.get(kind)
            return table is not None and table.find(value) is not None

        return IpFacts(country=geo.country if geo else None, asn=geo.asn if geo else None,
                       org=(geo.org if geo else None) or (dc.org if dc else None),
                       datacenter=dc is not None, vpn=has("vpn"), tor=has("tor"))
