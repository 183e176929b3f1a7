"""Streaming parsers of the public list formats into `ListEntry` values (no DB, no network)."""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Callable, Iterator
from datetime import date
from typing import IO
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from idproof.screening.countries import alpha2
from idproof.screening.matching import ListEntry
from idproof.screening.normalize import MAX_NAME_CHARS, clean

SOURCES: tuple[str, ...] = ("ofac", "un", "eu", "uk", "opensanctions")
MAX_ID_CHARS = 128
MAX_LINE_BYTES = 4 * 1024 * 1024
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}


class ListFormatError(Exception):
    """The file is not a complete list in the expected format; nothing of it is loaded.
    `detail` names a position or field, never a listed person's data."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


# -- helpers ----------------------------------------------------------------------------------

def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(el: Element | None) -> str:
    return clean(el.text or "") if el is not None else ""


def _child(el: Element, name: str) -> Element | None:
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _children(el: Element, name: str) -> list[Element]:
    return [c for c in el if _local(c.tag) == name]


def _descendants(el: Element, name: str) -> list[Element]:
    return [c for c in el.iter() if _local(c.tag) == name]


def _name(*parts: str) -> str:
    return clean(" ".join(p for p in parts if p))[:MAX_NAME_CHARS]


def _entry(source: str, entry_id: str, kind: str, names: list[str], dobs: list[str],
           countries: list[str], gender: str | None, topics: list[str], where: str
           ) -> ListEntry:
    entry_id = clean(entry_id)
    if not entry_id or len(entry_id) > MAX_ID_CHARS:
        raise ListFormatError("list_entry_invalid", f"{where}: missing or over-long id")
    uniq_names = list(dict.fromkeys(n for n in names if n))
    if not uniq_names:
        raise ListFormatError("list_entry_invalid", f"{where} ({entry_id}): no name")
    return ListEntry(source=source, entry_id=entry_id, kind=kind, names=tuple(uniq_names),
                     birth_dates=tuple(dict.fromkeys(d for d in dobs if d)),
                     countries=tuple(dict.fromkeys(c for c in countries if c)),
                     gender=gender, topics=tuple(dict.fromkeys(topics)))


def parse_date(text: str) -> str | None:
    """A list's birth date as partial ISO: '04 Mar 1961', '1961-03-04', '04/03/1961',
    '00/00/1961', 'Mar 1961', 'circa 1961', '1961' -> '1961-03-04', '1961', '1961-03'."""
    t = text.strip().lower().removeprefix("circa").removeprefix("approximately").strip()
    if not t:
        return None
    m = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", t)
    if m:
        y, mo, d = m.groups()
    elif m := re.fullmatch(r"(\d{1,2})[ /.-]([a-z]{3}|\d{1,2})[ /.-](\d{4})", t):
        d, mo, y = m.groups()
        mo = str(_MONTHS.get(mo, 0)) if mo.isalpha() else mo
    elif m := re.fullmatch(r"([a-z]{3})[a-z]* (\d{4})", t):
        mo, y, d = str(_MONTHS.get(m.group(1), 0)), m.group(2), None
    elif m := re.match(r"(\d{4})\b", t):  # "1958 to 1960": the first year
        y, mo, d = m.group(1), None, None
    else:
        return None
    month = int(mo) if mo else 0
    day = int(d) if d else 0
    if month == 0:
        return y
    if day == 0:
        return f"{y}-{month:02d}"
    try:
        return date(int(y), month, day).isoformat()
    except ValueError:
        return y


def _gender(text: str) -> str | None:
    t = text.strip().lower()
    return {"m": "male", "male": "male", "f": "female", "female": "female"}.get(t)


def _stream_xml(stream: IO[bytes], root_tag: str, entry_tags: set[str]
                ) -> Iterator[Element]:
    """Yield each complete entry element, detached afterwards (memory stays bounded). A DTD,
    entity or external reference, a wrong root or a truncated file raises ListFormatError."""
    stack: list[Element] = []
    seen_root = False
    try:
        for event, el in iterparse(stream, events=("start", "end"), forbid_dtd=True,
                                   forbid_entities=True, forbid_external=True):
            if event == "start":
                if not stack:
                    if _local(el.tag) != root_tag:
                        raise ListFormatError("list_format_invalid",
                                              f"the root element is not {root_tag}")
                    seen_root = True
                stack.append(el)
                continue
            stack.pop()
            if _local(el.tag) in entry_tags and stack:
                yield el
                stack[-1].remove(el)
    except ParseError as exc:
        raise ListFormatError("list_format_invalid",
                              f"not well-formed XML (truncated?) at {exc.position}") from None
    except DefusedXmlException:
        raise ListFormatError("list_format_invalid",
                              "DTDs and entities are refused in list files") from None
    if not seen_root:
        raise ListFormatError("list_format_invalid", "empty file")


# -- OFAC SDN (sdn.xml) -----------------------------------------------------------------------

_OFAC_KINDS = {"individual": "person", "entity": "entity", "vessel": "vessel",
               "aircraft": "aircraft"}


def parse_ofac(stream: IO[bytes]) -> Iterator[ListEntry]:
    """OFAC's SDN list in XML: sdnList/sdnEntry (uid, firstName, lastName, sdnType,
    akaList/aka, dateOfBirthList, nationalityList, citizenshipList, idList gender)."""
    count = 0
    expected: int | None = None
    for el in _stream_xml(stream, "sdnList", {"sdnEntry", "publshInformation"}):
        if _local(el.tag) == "publshInformation":
            rc = _text(_child(el, "Record_Count"))
            expected = int(rc) if rc.isdigit() else None
            continue
        count += 1
        where = f"sdnEntry #{count}"
        names = [_name(_text(_child(el, "firstName")), _text(_child(el, "lastName")))]
        for aka in _descendants(el, "aka"):
            names.append(_name(_text(_child(aka, "firstName")),
                               _text(_child(aka, "lastName"))))
        dobs = [parse_date(_text(d)) or "" for d in _descendants(el, "dateOfBirth")]
        countries = [alpha2(_text(c)) or "" for tag in ("nationality", "citizenship")
                     for item in _descendants(el, tag) for c in _children(item, "country")]
        gender = None
        for ident in _descendants(el, "id"):
            if _text(_child(ident, "idType")).lower() == "gender":
                gender = _gender(_text(_child(ident, "idNumber")))
        programs = [_text(p) for p in _descendants(el, "program")]
        kind = _OFAC_KINDS.get(_text(_child(el, "sdnType")).lower(), "unknown")
        yield _entry("ofac", _text(_child(el, "uid")), kind, names, dobs, countries, gender,
                     ["sanction", *(f"program:{p}" for p in programs if p)], where)
    if expected is not None and expected != count:
        raise ListFormatError("list_incomplete",
                              f"Record_Count says {expected} entries, the file has {count}")


# -- UN Security Council consolidated list ----------------------------------------------------

def parse_un(stream: IO[bytes]) -> Iterator[ListEntry]:
    """The UN consolidated list: CONSOLIDATED_LIST/INDIVIDUALS/INDIVIDUAL and
    ENTITIES/ENTITY (DATAID, FIRST_NAME..FOURTH_NAME, NAME_ORIGINAL_SCRIPT, *_ALIAS,
    INDIVIDUAL_DATE_OF_BIRTH, NATIONALITY/VALUE)."""
    for count, el in enumerate(_stream_xml(stream, "CONSOLIDATED_LIST",
                                           {"INDIVIDUAL", "ENTITY"}), start=1):
        person = _local(el.tag) == "INDIVIDUAL"
        where = f"{_local(el.tag)} #{count}"
        names = [_name(*(_text(_child(el, t)) for t in
                         ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")))]
        names.append(_name(_text(_child(el, "NAME_ORIGINAL_SCRIPT"))))
        for alias in _children(el, "INDIVIDUAL_ALIAS" if person else "ENTITY_ALIAS"):
            names.append(_name(_text(_child(alias, "ALIAS_NAME"))))
        dobs: list[str] = []
        for dob in _children(el, "INDIVIDUAL_DATE_OF_BIRTH"):
            for tag in ("DATE", "YEAR", "FROM_YEAR"):
                value = parse_date(_text(_child(dob, tag)))
                if value:
                    dobs.append(value)
                    break
        countries = [alpha2(_text(v)) or "" for n in _children(el, "NATIONALITY")
                     for v in _children(n, "VALUE")]
        topics = ["sanction", f"program:{_text(_child(el, 'UN_LIST_TYPE'))}"]
        yield _entry("un", _text(_child(el, "DATAID")), "person" if person else "entity",
                     names, dobs, countries, _gender(_text(_child(el, "GENDER"))), topics,
                     where)


# -- EU financial sanctions (FSF) -------------------------------------------------------------

def parse_eu(stream: IO[bytes]) -> Iterator[ListEntry]:
    """The EU consolidated financial sanctions file: export/sanctionEntity@logicalId with
    subjectType@code, nameAlias@wholeName, birthdate@birthdate|@year,
    citizenship@countryIso2Code."""
    for count, el in enumerate(_stream_xml(stream, "export", {"sanctionEntity"}), start=1):
        subject = _child(el, "subjectType")
        code = (subject.get("code", "") if subject is not None else "").lower()
        kind = {"person": "person", "enterprise": "entity"}.get(code, "unknown")
        names, gender = [], None
        for alias in _children(el, "nameAlias"):
            whole = alias.get("wholeName") or _name(alias.get("firstName", ""),
                                                    alias.get("middleName", ""),
                                                    alias.get("lastName", ""))
            names.append(_name(whole))
            gender = gender or _gender(alias.get("gender", ""))
        dobs = [parse_date(b.get("birthdate") or b.get("year") or "") or ""
                for b in _children(el, "birthdate")]
        countries = [alpha2(c.get("countryIso2Code", "")) or ""
                     for c in _children(el, "citizenship")]
        programs = [r.get("programme", "") for r in _children(el, "regulation")]
        yield _entry("eu", el.get("logicalId", ""), kind, names, dobs, countries, gender,
                     ["sanction", *(f"program:{p}" for p in programs if p)],
                     f"sanctionEntity #{count}")


# -- UK: OFSI consolidated list (ConList.csv) -------------------------------------------------

_UK_REQUIRED = ("Name 6", "Name 1", "Group Type", "Group ID", "DOB", "Nationality")


def parse_uk(stream: IO[bytes]) -> Iterator[ListEntry]:
    """OFSI's consolidated list CSV: a 'Last Updated' line, a header row, then one row per
    name of a designated person or entity, rows of one target sharing a Group ID."""
    text = codecs.getreader("utf-8-sig")(stream, "strict")  # errors: positional-only in typeshed
    lines = iter(text)
    try:
        first = next(lines, "")
        if not first.lower().startswith("last updated"):
            raise ListFormatError("list_format_invalid",
                                  "an OFSI ConList.csv starts with 'Last Updated'")
        reader = csv.reader(lines, strict=True)
        header = next(reader, None)
        if header is None or any(h not in header for h in _UK_REQUIRED):
            raise ListFormatError("list_format_invalid",
                                  "the header row lacks OFSI's columns "
                                  + ", ".join(_UK_REQUIRED))
        col = {h: i for i, h in enumerate(header)}
        groups: dict[str, dict[str, list[str]]] = {}
        order: list[str] = []
        for n, row in enumerate(reader, start=3):
            if not any(row):
                continue
            if len(row) != len(header):
                raise ListFormatError("list_format_invalid",
                                      f"line {n}: {len(row)} fields, the header has "
                                      f"{len(header)} (truncated?)")

            def get(name: str, row: list[str] = row) -> str:
                i = col.get(name)
                return clean(row[i]) if i is not None else ""

            gid = get("Group ID")
            g = groups.get(gid)
            if g is None:
                g = groups[gid] = {"names": [], "dobs": [], "countries": [], "kind": [],
                                   "gender": [], "regime": []}
                order.append(gid)
            name = _name(*(get(f"Name {i}") for i in (1, 2, 3, 4, 5)), get("Name 6"))
            if get("Alias Type").lower().startswith("primary"):
                g["names"].insert(0, name)
            else:
                g["names"].append(name)
            g["names"].append(_name(get("Name Non-Latin Script")))
            g["dobs"].append(parse_date(get("DOB")) or "")
            for part in re.split(r"\(\d+\)|,", get("Nationality")):
                g["countries"].append(alpha2(part) or "" if part.strip() else "")
            g["kind"].append(get("Group Type").lower())
            g["gender"].append(get("Gender"))
            g["regime"].append(get("Regime"))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ListFormatError("list_format_invalid", f"not a UTF-8 CSV file: {type(exc).__name__}"
                              ) from None
    for i, gid in enumerate(order, start=1):
        g = groups[gid]
        kind = {"individual": "person", "entity": "entity", "ship": "vessel"}.get(
            g["kind"][0], "unknown")
        gender = next((x for x in map(_gender, g["gender"]) if x), None)
        yield _entry("uk", gid, kind, g["names"], g["dobs"], g["countries"], gender,
                     ["sanction", *(f"program:{r}" for r in dict.fromkeys(g["regime"]) if r)],
                     f"group #{i}")


# -- OpenSanctions FollowTheMoney JSON lines --------------------------------------------------

_FTM_KINDS = {"Person": "person", "Organization": "entity", "Company": "entity",
              "LegalEntity": "unknown", "PublicBody": "entity", "Vessel": "vessel",
              "Airplane": "aircraft"}


def parse_opensanctions(stream: IO[bytes]) -> Iterator[ListEntry]:
    """FollowTheMoney entities, one JSON object a line (OpenSanctions' `entities.ftm.json`):
    id, schema, properties{name, alias, birthDate, nationality, citizenship, gender, topics}.
    Entities of other schemas (addresses, sanctions, ...) are skipped."""
    for n, raw in enumerate(iter(lambda: stream.readline(MAX_LINE_BYTES + 1), b""), start=1):
        if len(raw) > MAX_LINE_BYTES:
            raise ListFormatError("list_format_invalid", f"line {n} is too long")
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ListFormatError("list_format_invalid",
                                  f"line {n} is not JSON (truncated?)") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("properties"), dict) \
                or not isinstance(obj.get("schema"), str):
            raise ListFormatError("list_format_invalid",
                                  f"line {n} is not a FollowTheMoney entity")
        kind = _FTM_KINDS.get(obj["schema"])
        if kind is None:
            continue
        props = obj["properties"]

        def values(key: str, props: dict[str, object] = props) -> list[str]:
            v = props.get(key, [])
            return [str(x) for x in v] if isinstance(v, list) else []

        names = [_name(x) for x in values("name") + values("alias")]
        dobs = [parse_date(x) or "" for x in values("birthDate")]
        countries = [alpha2(x) or "" for x in values("nationality") + values("citizenship")]
        gender = next((g for g in map(_gender, values("gender")) if g), None)
        yield _entry("opensanctions", str(obj.get("id", "")), kind, names, dobs, countries,
                     gender, values("topics"), f"line {n}")


PARSERS: dict[str, Callable[[IO[bytes]], Iterator[ListEntry]]] = {
    "ofac": parse_ofac, "un": parse_un, "eu": parse_eu, "uk": parse_uk,
    "opensanctions": parse_opensanctions,
}


def parse(source: str, stream: IO[bytes]) -> Iterator[ListEntry]:
    """Entries of a list file of `source`; ListFormatError if any part of it is not valid
    (the caller loads nothing of a file that fails, even late)."""
    parser = PARSERS.get(source)
    if parser is None:
        raise ListFormatError("source_unknown", f"unknown source; use one of {', '.join(SOURCES)}")
    seen: set[str] = set()
    count = 0
    for entry in parser(stream):
        if entry.entry_id in seen:
            raise ListFormatError("list_entry_duplicate",
                                  f"entry id {entry.entry_id} appears twice")
        seen.add(entry.entry_id)
        count += 1
        yield entry
    if count == 0:
        raise ListFormatError("list_empty", "the file holds no entries")
