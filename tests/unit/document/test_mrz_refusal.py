"""Why the MRZ reader refuses a zone: `mrz_checksum_failed` declines the document, so it is
given only when independent engines read the same zone and its check digits still fail;
every doubt of the reader's own is `document_unreadable` (a retry)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("numpy")
pytest.importorskip("cv2")

import numpy as np

from idproof.testing import (
    DocumentGenerator,
    SyntheticDocument,
    photograph,
)
from idproof.verification.document.mrz import (
    MrzFormat,
    build_mrz,
    check_digit,
    parse_mrz,
    protected_positions,
)
from idproof.verification.document.mrz_reader import MrzReader, MrzReadResult
from idproof.verification.document.mrz_refusal import agreed_zone, refusal_reason
from idproof.verification.document.mrz_zone import MrzRegion
from idproof.verification.document.ocr_line import OcrLine

TODAY = date(2026, 1, 1)
DECLINE, RETRY = "mrz_checksum_failed", "document_unreadable"

# No "O" or "0" in alphanumeric fields: the reader's O/0 shape vote cannot settle those on the
# blank images the scripted engines get, which would (rightly) make every refusal a retry.
TD1 = build_mrz(MrzFormat.TD1, document_code="ID", issuing_country="NLD",
                document_number="X4RT7K2M9", surname="VERMEER", given_names="ANNA MARIA",
                nationality="NLD", birth_date=date(1984, 7, 12), sex="F",
                expiry_date=date(2029, 3, 15))
TD3 = build_mrz(MrzFormat.TD3, document_code="P", issuing_country="FRA",
                document_number="XH5123645", surname="MOLINI", given_names="YAPA",
                nationality="FRA", birth_date=date(1967, 8, 29), sex="F",
                expiry_date=date(2034, 2, 11), personal_number="AB12345")

# (line, column) of each check digit: TD1 document number, birth date, expiry date,
# composite; TD3 personal number.
TD1_CHECKS = {"document_number": (0, 14), "birth_date": (1, 6), "expiry_date": (1, 14),
              "composite": (1, 29)}
TD3_PERSONAL_CHECK = (1, 42)


def put(lines: Sequence[str], pos: tuple[int, int], ch: str) -> tuple[str, ...]:
    li, col = pos
    out = list(lines)
    out[li] = out[li][:col] + ch + out[li][col + 1:]
    return tuple(out)


def wrong_digit(lines: Sequence[str], pos: tuple[int, int]) -> tuple[str, ...]:
    """The zone with the check digit at `pos` off by 3: a document printed wrong."""
    return put(lines, pos, str((int(lines[pos[0]][pos[1]]) + 3) % 10))


TAMPERED = wrong_digit(TD1, TD1_CHECKS["birth_date"])


def test_the_fixtures_are_what_they_claim() -> None:
    assert parse_mrz(TD1, today=TODAY, repair=False).valid
    assert parse_mrz(TD3, today=TODAY, repair=False).valid
    assert not parse_mrz(TAMPERED, today=TODAY, repair=False).valid
    assert check_digit(TD3[1][28:42]) == TD3[1][42]


# -- the pure decision -----------------------------------------------------------------------


@pytest.mark.parametrize("check", sorted(TD1_CHECKS))
def test_a_wrong_check_digit_read_alike_by_every_engine_declines(check: str) -> None:
    zone = wrong_digit(TD1, TD1_CHECKS[check])
    readings = {"glyphs": zone, "rapidocr": zone, "tesseract": zone}
    assert refusal_reason(readings) == DECLINE


def test_two_agreeing_engines_are_enough_and_so_is_a_td3() -> None:
    assert refusal_reason({"glyphs": TAMPERED, "rapidocr": TAMPERED}) == DECLINE
    zone = wrong_digit(TD3, TD3_PERSONAL_CHECK)
    assert refusal_reason({"rapidocr": zone, "tesseract": zone}) == DECLINE


def test_a_genuine_zone_is_never_declined() -> None:
    # Refused for some other doubt (ambiguity, no corroboration): its check digits pass.
    for zone in (TD1, TD3):
        assert refusal_reason({"glyphs": zone, "rapidocr": zone, "tesseract": zone}) == RETRY


def test_only_one_engine_read_the_zone() -> None:
    assert refusal_reason({"glyphs": TAMPERED}) == RETRY
    # The others abstained (read nothing): still only one reading.
    assert refusal_reason({"glyphs": TAMPERED, "rapidocr": ("", "", ""),
                           "tesseract": ()}) == RETRY


def test_engines_that_disagree_on_a_protected_character_retry() -> None:
    other = put(TAMPERED, (1, 6), "9" if TAMPERED[1][6] != "9" else "8")
    assert refusal_reason({"glyphs": TAMPERED, "rapidocr": other}) == RETRY
    # Two engines agree, the third saw another digit there: a correction was possible.
    assert refusal_reason({"glyphs": TAMPERED, "rapidocr": TAMPERED,
                           "tesseract": other}) == RETRY
    # Dissent inside the document number (also covered by the composite digit).
    shifted = put(TAMPERED, (0, 8), "B")
    assert refusal_reason({"glyphs": TAMPERED, "rapidocr": TAMPERED,
                           "tesseract": shifted}) == RETRY


def test_a_third_engine_that_read_the_names_otherwise_does_not_matter() -> None:
    names = put(TAMPERED, (2, 0), "W")  # no check digit covers the names
    assert refusal_reason({"glyphs": TAMPERED, "rapidocr": TAMPERED,
                           "tesseract": names}) == DECLINE


def test_a_less_trusted_filler_look_alike_is_not_dissent() -> None:
    # Tesseract draws "<" as "K" now and then; the fusion ignores it, so does the decision.
    filler_col = TAMPERED[0].rindex("<")
    k_for_filler = put(TAMPERED, (0, filler_col), "K")
    assert refusal_reason({"glyphs": TAMPERED, "rapidocr": TAMPERED,
                           "tesseract": k_for_filler}) == DECLINE
    # A more trusted engine reading a character there is dissent.
    assert refusal_reason({"glyphs": k_for_filler, "rapidocr": TAMPERED,
                           "tesseract": TAMPERED}) == RETRY


def test_two_pairs_agreeing_on_different_zones_retry() -> None:
    other = wrong_digit(TD1, TD1_CHECKS["expiry_date"])
    assert refusal_reason({"a": TAMPERED, "b": TAMPERED, "c": other, "d": other}) == RETRY


def test_a_zone_that_had_to_be_fitted_retries() -> None:
    # Both engines dropped the same filler: the line must be stretched to 30 to parse.
    short = (TAMPERED[0][:-1], *TAMPERED[1:])
    assert refusal_reason({"glyphs": short, "rapidocr": short}) == RETRY
    assert agreed_zone({"glyphs": short, "rapidocr": short}) is not None


def test_a_character_impossible_in_its_field_is_a_misread() -> None:
    # Both engines read a letter in the birth date: mapping it back would be a correction.
    letter_in_date = put(TD1, (1, 2), "O" if TD1[1][2] == "0" else "B")
    assert refusal_reason({"glyphs": letter_in_date, "rapidocr": letter_in_date}) == RETRY
    digit_in_name = put(TAMPERED, (2, 1), "8")
    assert refusal_reason({"glyphs": digit_in_name, "rapidocr": digit_in_name}) == RETRY


def test_a_filler_inside_the_document_number_is_a_lost_character() -> None:
    lost = put(TD1, (0, 8), "<")
    assert refusal_reason({"glyphs": lost, "rapidocr": lost}) == RETRY


def test_the_readers_own_doubts_at_a_protected_position_retry() -> None:
    readings = {"glyphs": TAMPERED, "rapidocr": TAMPERED}
    assert refusal_reason(readings, doubts={(0, 7)}) == RETRY  # in the document number
    assert refusal_reason(readings, doubts={(2, 3)}) == DECLINE  # in the names


def test_any_valid_reading_means_the_refusal_is_the_readers() -> None:
    readings = {"glyphs": TAMPERED, "rapidocr": TAMPERED}
    assert refusal_reason(readings, valid_readings=1) == RETRY
    assert refusal_reason(readings, valid_readings=2) == RETRY


def test_garbage_retries() -> None:
    assert refusal_reason({"a": ("HELLO", "WORLD"), "b": ("HELLO", "WORLD")}) == RETRY
    assert refusal_reason({}) == RETRY


ALNUM = "ABCDEFGHIJKLMNPQRSTUVWXYZ123456789"  # no O/0: see TD1 above
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def genuine_zones(draw: st.DrawFn) -> tuple[str, ...]:
    fmt = draw(st.sampled_from([MrzFormat.TD1, MrzFormat.TD3]))
    return build_mrz(
        fmt, document_code="ID" if fmt is MrzFormat.TD1 else "P",
        issuing_country="NLD", nationality="NLD",
        document_number=draw(st.text(ALNUM, min_size=6, max_size=9)),
        surname=draw(st.text("ABCDEFGHIKLMNPRSTUVWYZ", min_size=2, max_size=10)),
        given_names="ANNA", birth_date=draw(st.dates(date(1930, 1, 1), date(2007, 12, 31))),
        sex=draw(st.sampled_from("MFX")),
        expiry_date=draw(st.dates(date(2026, 1, 2), date(2040, 12, 31))))


@st.composite
def misread(draw: st.DrawFn, zone: tuple[str, ...]) -> tuple[str, ...]:
    """The zone with up to three characters misread (any MRZ character for any other)."""
    out = zone
    for _ in range(draw(st.integers(0, 3))):
        li = draw(st.integers(0, len(zone) - 1))
        col = draw(st.integers(0, len(zone[li]) - 1))
        out = put(out, (li, col), draw(st.sampled_from("0123456789ABKOSZ<")))
    return out


@SETTINGS
@given(st.data())
def test_property_a_decline_needs_two_engines_reading_the_same_failing_zone(
        data: st.DataObject) -> None:
    zone = data.draw(genuine_zones())
    n = data.draw(st.integers(1, 3))
    readings = {f"e{i}": data.draw(misread(zone)) for i in range(n)}
    reason = refusal_reason(readings)
    if reason == DECLINE:
        agreed = agreed_zone(readings)
        assert agreed is not None and len(agreed[1]) >= 2
        # What they agreed on is a misprint, never the genuine zone.
        assert agreed[0] != zone
        assert not parse_mrz(agreed[0], today=TODAY, repair=False).valid
        for name, lines in readings.items():  # nobody read a protected character otherwise
            if name not in agreed[1] and len(lines) == len(zone):
                fmt = MrzFormat.TD1 if len(zone) == 3 else MrzFormat.TD3
                assert all(lines[li][col] == agreed[0][li][col] or agreed[0][li][col] == "<"
                           for li, col in protected_positions(fmt, zone)
                           if len(lines[li]) == len(zone[li]))
    if len({tuple(r) for r in readings.values()}) == len(readings):
        assert reason == RETRY  # no two engines read alike


@SETTINGS
@given(st.data())
def test_property_one_engine_alone_is_never_a_decline(data: st.DataObject) -> None:
    zone = data.draw(genuine_zones())
    assert refusal_reason({"e0": data.draw(misread(zone))}) == RETRY


# -- through the reader, with scripted engines -----------------------------------------------


class ScriptedEngine:
    def __init__(self, name: str, lines: Sequence[str]) -> None:
        self.name = name
        self._lines = list(lines)

    def read_lines(self, lines: Sequence[np.ndarray]) -> list[OcrLine]:
        return [OcrLine(t) for t in self._lines[: len(lines)]]


def read_with(*engines: ScriptedEngine) -> MrzReadResult:
    reader = MrzReader(list(engines), today=TODAY)
    blank = np.full((40, 600), 255, np.uint8)
    region = MrzRegion(blank, (blank,) * 3, 0.0)
    return reader._read_region(region)


def test_reader_declines_a_misprinted_zone_that_every_engine_read_alike() -> None:
    r = read_with(ScriptedEngine("glyphs", TAMPERED), ScriptedEngine("rapidocr", TAMPERED),
                  ScriptedEngine("tesseract", TAMPERED))
    assert not r.ok and r.reason == DECLINE


def test_reader_retries_a_misprinted_zone_only_one_engine_read() -> None:
    r = read_with(ScriptedEngine("glyphs", TAMPERED), ScriptedEngine("rapidocr", ["", "", ""]))
    assert not r.ok and r.reason == RETRY


def test_reader_retries_when_the_engines_disagree() -> None:
    # One engine misread the birth date's check digit of a genuine card; the other read a
    # different wrong digit: nothing valid, and nothing that two engines saw alike.
    a = wrong_digit(TD1, TD1_CHECKS["birth_date"])
    b = put(TD1, TD1_CHECKS["birth_date"], str((int(TD1[1][6]) + 5) % 10))
    r = read_with(ScriptedEngine("glyphs", a), ScriptedEngine("rapidocr", b))
    assert not r.ok and r.reason == RETRY


def test_reader_accepts_or_retries_a_genuine_card_one_engine_misread() -> None:
    misread_digit = wrong_digit(TD1, TD1_CHECKS["expiry_date"])
    for first, second in ((TD1, misread_digit), (misread_digit, TD1)):
        r = read_with(ScriptedEngine("glyphs", first), ScriptedEngine("rapidocr", second))
        assert r.reason != DECLINE
        assert not r.ok or (r.mrz is not None and r.mrz.lines == TD1)


def test_reader_retries_a_check_digit_failure_that_a_correction_explains() -> None:
    # Two engines read a zone whose check digit fails; the third read the document
    # number's first character otherwise. Its reading is a candidate the check digits
    # reject, but a correction was tried and the engines disagreed: the photo is retaken.
    a = wrong_digit(TD1, TD1_CHECKS["document_number"])
    c = put(a, (0, 5), "Y")
    r = read_with(ScriptedEngine("glyphs", a), ScriptedEngine("rapidocr", a),
                  ScriptedEngine("tesseract", c))
    assert not r.ok and r.reason == RETRY


# -- real OCR on synthetic cards -------------------------------------------------------------


@pytest.fixture(scope="module")
def reader() -> MrzReader:
    pytest.importorskip("rapidocr")
    pytest.importorskip("tesserocr")
    return MrzReader(today=TODAY)


def _cards(n: int) -> list[SyntheticDocument]:
    gen = DocumentGenerator(31, today=TODAY)
    return [gen.id_card() for _ in range(n)]


@pytest.mark.slow
def test_genuine_td1_cards_front_and_back_are_never_declined(reader: MrzReader) -> None:
    cards = _cards(10)
    for i, card in enumerate(cards[:3]):
        assert card.back is not None
        front = reader.read(photograph(card.front, "clean", seed=i)[0])
        back = reader.read(photograph(card.back, "clean", seed=i)[0])
        assert front.reason == RETRY  # the front carries no MRZ
        assert back.ok and back.mrz is not None
        assert back.mrz.fields() == card.expected
    # Genuine cards whose photos the former rule declined (engines disagreeing under glare
    # or a slanted shot): at worst a retry.
    for i, level in ((0, "glare"), (5, "perspective"), (9, "perspective")):
        back_image = cards[i].back
        assert back_image is not None
        result = reader.read(photograph(back_image, level, seed=i)[0])
        assert result.reason != DECLINE, (i, level)
        if result.ok:
            assert result.mrz is not None and result.mrz.fields() == cards[i].expected


@pytest.mark.slow
def test_a_card_printed_with_a_wrong_check_digit_is_declined(
        reader: MrzReader, monkeypatch: pytest.MonkeyPatch) -> None:
    from idproof.testing import documents as generator

    genuine = generator.build_mrz

    def misprinted(fmt: MrzFormat, **fields: Any) -> tuple[str, ...]:
        return wrong_digit(genuine(fmt, **fields), TD1_CHECKS["birth_date"])

    monkeypatch.setattr(generator, "build_mrz", misprinted)
    for i, card in enumerate(_cards(3)):
        assert card.back is not None
        assert not parse_mrz(card.mrz_lines, today=TODAY, repair=False).valid
        result = reader.read(photograph(card.back, "clean", seed=i)[0])
        assert not result.ok and result.reason == DECLINE, result.readings
