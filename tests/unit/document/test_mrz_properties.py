"""MRZ property tests: built MRZs parse back; a changed protected character is caught."""

from __future__ import annotations

import string
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idproof.verification.document.countries import MRZ_CODES
from idproof.verification.document.mrz import (
    OCR_CONFUSIONS,
    MrzFormat,
    ParsedMrz,
    build_mrz,
    char_value,
    parse_mrz,
    protected_positions,
)

TODAY = date(2026, 1, 1)
ALNUM = string.ascii_uppercase + string.digits
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
CODES = {MrzFormat.TD1: "I", MrzFormat.TD2: "I", MrzFormat.TD3: "P",
         MrzFormat.MRV_A: "V", MrzFormat.MRV_B: "V"}

words = st.text(string.ascii_uppercase, min_size=1, max_size=8)


@st.composite
def mrz_fields(draw: st.DrawFn) -> tuple[MrzFormat, dict[str, object]]:
    fmt = draw(st.sampled_from(list(MrzFormat)))
    long_ok = fmt in (MrzFormat.TD1, MrzFormat.TD2)
    number = draw(st.text(ALNUM, min_size=1, max_size=12 if long_ok else 9))
    opt_room = {MrzFormat.TD1: 15, MrzFormat.TD2: 7, MrzFormat.TD3: 0, MrzFormat.MRV_A: 16,
                MrzFormat.MRV_B: 8}[fmt]
    if len(number) > 9:
        opt_room -= len(number) - 9 + 2
    optional = draw(st.text(ALNUM, max_size=max(opt_room, 0)))
    birth = draw(st.dates(TODAY - timedelta(days=365 * 99), TODAY))
    expiry = draw(st.dates(TODAY - timedelta(days=365 * 60), TODAY + timedelta(days=365 * 19)))
    return fmt, {
        "document_code": CODES[fmt],
        "issuing_country": draw(st.sampled_from(sorted(MRZ_CODES))),
        "nationality": draw(st.sampled_from(sorted(MRZ_CODES))),
        "document_number": number,
        "surname": " ".join(draw(st.lists(words, min_size=1, max_size=2))),
        "given_names": " ".join(draw(st.lists(words, max_size=2))),
        "birth_date": birth,
        "expiry_date": expiry,
        "sex": draw(st.sampled_from("MFX<")),
        "optional_data": optional,
        "optional_data_2": draw(st.text(ALNUM, max_size=11)) if fmt is MrzFormat.TD1 else "",
        "personal_number": draw(st.text(ALNUM, max_size=14)) if fmt is MrzFormat.TD3 else "",
    }


def expected_matches(r: ParsedMrz, f: dict[str, object]) -> None:
    assert r.valid, r.problems
    assert r.document_number == f["document_number"]
    assert r.issuing_country == f["issuing_country"] and r.nationality == f["nationality"]
    assert r.birth_date == f["birth_date"] and r.expiry_date == f["expiry_date"]
    assert r.sex == f["sex"]
    assert r.optional_data == f["optional_data"]
    assert r.optional_data_2 == f["optional_data_2"]
    assert r.personal_number == f["personal_number"]
    if len(f"{f['surname']}<<{f['given_names']}") <= 30:  # short enough not to be truncated
        assert r.surname == f["surname"] and r.given_names == f["given_names"]


@SETTINGS
@given(mrz_fields())
def test_built_mrz_parses_back(case: tuple[MrzFormat, dict[str, object]]) -> None:
    fmt, f = case
    lines = build_mrz(fmt, **f)  # type: ignore[arg-type]
    r = parse_mrz(lines, today=TODAY)
    assert r.repairs == ()
    expected_matches(r, f)


def _mutated(lines: tuple[str, ...], pos: tuple[int, int], ch: str) -> tuple[str, ...]:
    li, col = pos
    out = list(lines)
    out[li] = out[li][:col] + ch + out[li][col + 1:]
    return tuple(out)


@SETTINGS
@given(mrz_fields(), st.data())
def test_changed_protected_character_is_caught(case: tuple[MrzFormat, dict[str, object]],
                                               data: st.DataObject) -> None:
    fmt, f = case
    lines = build_mrz(fmt, **f)  # type: ignore[arg-type]
    pos = data.draw(st.sampled_from(protected_positions(fmt, lines)))
    old = lines[pos[0]][pos[1]]
    new = data.draw(st.sampled_from(sorted(set(ALNUM + "<") - {old})))
    # A change by a multiple of 10 (e.g. "<"/"K", "6"/"G") leaves every check digit intact:
    # Doc 9303's scheme cannot see it, so the property is about the changes it can see.
    if (char_value(new) - char_value(old)) % 10 == 0:
        return
    r = parse_mrz(_mutated(lines, pos, new), today=TODAY, repair=False)
    assert not r.valid


@SETTINGS
@given(mrz_fields(), st.data())
def test_confusion_is_repaired_or_refused_never_misread(
        case: tuple[MrzFormat, dict[str, object]], data: st.DataObject) -> None:
    fmt, f = case
    lines = build_mrz(fmt, **f)  # type: ignore[arg-type]
    candidates = [p for p in protected_positions(fmt, lines)
                  if any((char_value(a) - char_value(lines[p[0]][p[1]])) % 10
                         for a in OCR_CONFUSIONS.get(lines[p[0]][p[1]], ()))]
    if not candidates:
        return
    pos = data.draw(st.sampled_from(candidates))
    old = lines[pos[0]][pos[1]]
    new = data.draw(st.sampled_from([a for a in OCR_CONFUSIONS[old]
                                     if (char_value(a) - char_value(old)) % 10]))
    r = parse_mrz(_mutated(lines, pos, new), today=TODAY)
    if r.valid:
        assert r.lines == lines
        expected_matches(r, f)
