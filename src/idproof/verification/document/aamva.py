"""AAMVA DL/ID Card Design Standard: parse (and build) the PDF417 payload of US and Canadian
driving licences and ID cards, versions 1 to 10."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Final

from idproof.verification.document.mrz import DOCUMENT_UNREADABLE, ReasonCode

COMPLIANCE: Final = "@"
DATA_SEPARATOR: Final = "\n"
RECORD_SEPARATOR: Final = "\x1e"
SEGMENT_TERMINATOR: Final = "\r"
FILE_TYPES: Final = ("ANSI ", "AAMVA")  # "AAMVA" on some version 1 cards

CANADIAN_JURISDICTIONS: Final = frozenset(
    ["AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"])

# DBC: numeric codes since version 2 (D20 data dictionary); letters on version 1 cards.
_SEX: Final = {"1": "M", "2": "F", "9": "X", "M": "M", "F": "F", "X": "X", "U": "X"}


class AamvaError(Exception):
    """A barcode payload that is not a usable AAMVA record; `reason` is a stable code."""

    def __init__(self, detail: str, reason: ReasonCode = DOCUMENT_UNREADABLE) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: ReasonCode = reason
        self.detail = detail  # names structure only, never the content


@dataclass(frozen=True, slots=True)
class AamvaRecord:
    """The fields of one AAMVA barcode; `elements` keeps every raw element of the DL/ID
    subfile and `subfiles` every subfile (jurisdiction-specific "Z?" ones included)."""

    version: int
    jurisdiction_version: int | None
    iin: str
    document_type: str  # "DL" or "ID"
    family_name: str
    given_names: str  # first and middle names, space separated
    first_name: str
    middle_names: str
    birth_date: date | None
    expiry_date: date | None
    issue_date: date | None
    sex: str | None  # "M", "F", "X"
    customer_id: str  # DAQ, the licence / ID number
    document_discriminator: str  # DCF
    country: str  # "USA" or "CAN"
    jurisdiction: str  # DAJ, e.g. "CA", "ON"
    postal_code: str
    elements: dict[str, str] = field(repr=False)
    subfiles: dict[str, dict[str, str]] = field(repr=False)
    problems: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.problems

    def fields(self) -> dict[str, object]:
        return {
            "document_type": self.document_type, "family_name": self.family_name,
            "given_names": self.given_names, "birth_date": self.birth_date,
            "expiry_date": self.expiry_date, "sex": self.sex, "customer_id": self.customer_id,
            "country": self.country, "jurisdiction": self.jurisdiction,
        }


_ABSENT: Final = frozenset({"NONE", "UNAVL", "UNAVAILABLE"})
_HEADER_RE: Final = re.compile(
    r"@\n?\x1e?\r?(?P<type>ANSI |AAMVA)(?P<iin>\d{6})(?P<version>\d{2})")
_ELEMENT_RE: Final = re.compile(r"^[A-Z]{3}$")


def _decode(payload: bytes | str) -> str:
    if isinstance(payload, bytes):
        # AAMVA data is ASCII; latin-1 maps every byte so a stray one cannot raise here.
        return payload.decode("latin-1")
    return payload


def _parse_elements(body: str) -> dict[str, str]:
    """Elements of one subfile body: 3-letter ids followed by values, LF separated."""
    out: dict[str, str] = {}
    for raw in re.split(r"[\n\r]", body):
        item = raw.strip("\x1e")
        if len(item) < 3 or not _ELEMENT_RE.match(item[:3]):
            continue
        out.setdefault(item[:3], item[3:].strip())
    return out


def _split_subfiles(text: str, start: int, version: int) -> tuple[int | None, dict[str, str]]:
    """The subfile designators after the version number, then each subfile's body."""
    pos = start
    jurisdiction_version: int | None = None
    if version >= 2:
        jurisdiction_version = int(text[pos:pos + 2]) if text[pos:pos + 2].isdigit() else None
        pos += 2
    entries_raw = text[pos:pos + 2]
    if not entries_raw.isdigit() or int(entries_raw) == 0:
        raise AamvaError("header has no subfile count")
    entries = int(entries_raw)
    pos += 2
    bodies: dict[str, str] = {}
    for _ in range(entries):
        designator = text[pos:pos + 10]
        pos += 10
        if len(designator) < 10 or not designator[2:].isdigit():
            raise AamvaError("malformed subfile designator")
        kind, offset, length = designator[:2], int(designator[2:6]), int(designator[6:10])
        chunk = text[offset:offset + length]
        if not chunk.startswith(kind):
            # Several issuers count offsets differently (±1, or from after the header); the
            # subfile type at its start is the reliable anchor.
            found = text.find(kind, pos if offset < pos else max(offset - 4, 0))
            if found < 0:
                raise AamvaError("subfile not found at its offset")
            chunk = text[found:found + length]
        bodies[kind] = chunk[2:]
    return jurisdiction_version, bodies


def _parse_date(value: str, *, canadian: bool, version: int) -> date | None:
    digits = value.strip()[:8]
    if len(digits) != 8 or not digits.isdigit():
        return None
    # Version 1 wrote CCYYMMDD everywhere; later versions MMDDCCYY in the USA and CCYYMMDD
    # in Canada. A date invalid in the expected order is tried in the other one.
    orders = ("ymd", "mdy") if canadian or version == 1 else ("mdy", "ymd")
    for order in orders:
        if order == "ymd":
            y, m, d = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
        else:
            m, d, y = int(digits[:2]), int(digits[2:4]), int(digits[4:8])
        try:
            return date(y, m, d)
        except ValueError:
            continue
    return None


def _split_full_name(value: str) -> tuple[str, str, str]:
    # Version 1 DAA: "FAMILY,FIRST,MIDDLE" (commas) or "FAMILY FIRST MIDDLE"
    parts = [p.strip() for p in (value.split(",") if "," in value else value.split())]
    parts += ["", "", ""]
    return parts[0], parts[1], " ".join(p for p in parts[2:] if p)


def parse_aamva(payload: bytes | str) -> AamvaRecord:
    """Parse an AAMVA barcode payload; raises `AamvaError` when it is not one."""
    text = _decode(payload)
    m = _HEADER_RE.search(text[:64])
    if m is None:
        raise AamvaError("no AAMVA header")
    if m.start() != 0:
        # Some scanners drop or repeat the leading control characters: offsets are relative
        # to the compliance indicator, so re-anchor the text there.
        text = text[m.start():]
        m = _HEADER_RE.match(text)
        assert m is not None
    version = int(m.group("version"))
    if version > 10:
        raise AamvaError("unsupported AAMVA version")
    jurisdiction_version, bodies = _split_subfiles(text, m.end(), version)
    doc_type = "DL" if "DL" in bodies else "ID" if "ID" in bodies else ""
    if not doc_type:
        raise AamvaError("no DL or ID subfile")
    subfiles = {k: _parse_elements(v) for k, v in bodies.items()}
    el = subfiles[doc_type]

    family, first, middle = _names(el, version)

    jurisdiction = el.get("DAJ", "").strip()
    country = el.get("DCG", "").strip().upper()
    if not country:
        country = "CAN" if jurisdiction in CANADIAN_JURISDICTIONS else "USA"
    canadian = country == "CAN"
    birth = _parse_date(el.get("DBB", ""), canadian=canadian, version=version)
    expiry = _parse_date(el.get("DBA", ""), canadian=canadian, version=version)
    issue = _parse_date(el.get("DBD", ""), canadian=canadian, version=version)
    sex = _SEX.get(el.get("DBC", "").strip()[:1].upper())
    problems = []
    if not family:
        problems.append("family_name_missing")
    if birth is None:
        problems.append("birth_date_invalid")
    if expiry is None:
        problems.append("expiry_date_invalid")
    if not el.get("DAQ"):
        problems.append("customer_id_missing")
    return AamvaRecord(
        version=version, jurisdiction_version=jurisdiction_version, iin=m.group("iin"),
        document_type=doc_type, family_name=family, first_name=first, middle_names=middle,
        given_names=" ".join(p for p in (first, middle) if p), birth_date=birth,
        expiry_date=expiry, issue_date=issue, sex=sex, customer_id=el.get("DAQ", ""),
        document_discriminator=el.get("DCF", ""), country=country, jurisdiction=jurisdiction,
        postal_code=el.get("DAK", "").strip(), elements=el, subfiles=subfiles,
        problems=tuple(problems),
    )


def _names(el: dict[str, str], version: int) -> tuple[str, str, str]:
    """Family, first and middle names, wherever this version of the standard keeps them."""
    family = el.get("DCS", "") or el.get("DAB", "")
    first = el.get("DAC", "") or el.get("DCT", "")
    middle = el.get("DAD", "")
    if version in (2, 3) and "DCT" in el and "DAC" not in el:
        # DCT holds every given name, separated by a comma or a space.
        names = [p for p in re.split(r"[ ,]+", el["DCT"]) if p]
        first, middle = (names[0] if names else ""), " ".join(names[1:])
    if not family and "DAA" in el:
        family, first, middle = _split_full_name(el["DAA"])
    middle = " ".join(p for p in re.split(r"[ ,]+", middle) if p)
    # "NONE" / "unavl" stand for an absent name part (D20 data dictionary).
    first, middle = ("" if n.upper() in _ABSENT else n for n in (first, middle))
    return family, first, middle


def format_aamva_date(d: date, *, canadian: bool, version: int = 10) -> str:
    if canadian or version == 1:
        return d.strftime("%Y%m%d")
    return d.strftime("%m%d%Y")


def build_aamva(elements: Mapping[str, str], *, iin: str = "636000", version: int = 10,
                jurisdiction_version: int = 0, document_type: str = "DL",
                extra_subfiles: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """An AAMVA payload (header, designators, subfiles) for the given elements; used by the
    synthetic licence generator and tests."""
    subfiles: dict[str, Mapping[str, str]] = {document_type: elements, **(extra_subfiles or {})}
    bodies = []
    for kind, els in subfiles.items():
        items = [f"{k}{v}" for k, v in els.items()]
        bodies.append(kind + DATA_SEPARATOR.join(items) + SEGMENT_TERMINATOR)
    head = f"{COMPLIANCE}{DATA_SEPARATOR}{RECORD_SEPARATOR}{SEGMENT_TERMINATOR}ANSI {iin}"
    head += f"{version:02d}"
    if version >= 2:
        head += f"{jurisdiction_version:02d}"
    head += f"{len(bodies):02d}"
    offset = len(head) + 10 * len(bodies)
    designators = ""
    for kind, body in zip(subfiles, bodies, strict=True):
        designators += f"{kind}{offset:04d}{len(body):04d}"
        offset += len(body)
    return head + designators + "".join(bodies)
