"""MRZ reader: engine fusion rules with scripted engines, and real OCR on synthetic photos."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pytest

# Skip, rather than fail, where the imaging stack (numpy, Pillow, OpenCV) is not installed.
pytest.importorskip("numpy")
pytest.importorskip("PIL")
pytest.importorskip("cv2")

import numpy as np

from idproof.testing import DocumentGenerator, photograph
from idproof.verification.document.mrz import MrzFormat, build_mrz
from idproof.verification.document.mrz_reader import MrzReader
from idproof.verification.document.mrz_text import fit_line
from idproof.verification.document.mrz_zone import MrzRegion
from idproof.verification.document.ocr_line import MrzOcrEngine, OcrLine, clean_ocr_text

TODAY = date(2026, 1, 1)
TRUTH = build_mrz(MrzFormat.TD3, document_code="P", issuing_country="FRA",
                  document_number="XH5108645", surname="MOLINI", given_names="YAPA",
                  nationality="FRA", birth_date=date(1967, 8, 29), sex="F",
                  expiry_date=date(2034, 2, 11), personal_number="AB12345")


class ScriptedEngine:
    """Returns fixed text lines: lets the fusion rules be tested without OCR."""

    def __init__(self, name: str, lines: Sequence[str]) -> None:
        self.name = name
        self._lines = list(lines)

    def read_lines(self, lines: Sequence[np.ndarray]) -> list[OcrLine]:
        return [OcrLine(t) for t in self._lines[: len(lines)]]


def read_with(*engines: ScriptedEngine) -> object:
    reader = MrzReader(list(engines), today=TODAY)
    region = MrzRegion(np.zeros((4, 4), np.uint8), (np.zeros((4, 4), np.uint8),) * 2, 0.0)
    return reader._read_region(region)


def test_scripted_engine_satisfies_protocol() -> None:
    assert isinstance(ScriptedEngine("x", []), MrzOcrEngine)


def test_agreeing_engines_accept_with_names_verified() -> None:
    r = read_with(ScriptedEngine("a", TRUTH), ScriptedEngine("b", TRUTH))
    assert r.ok and r.names_verified and r.mrz.document_number == "XH5108645"


def test_one_engine_error_repaired_by_the_other() -> None:
    bad = (TRUTH[0], TRUTH[1].replace("XH5108645", "XH51O8645"))
    r = read_with(ScriptedEngine("a", bad), ScriptedEngine("b", TRUTH))
    assert r.ok and r.mrz.document_number == "XH5108645"


def test_names_disagreeing_are_unverified() -> None:
    other = (TRUTH[0].replace("YAPA", "YAPE"), TRUTH[1])
    r = read_with(ScriptedEngine("a", TRUTH), ScriptedEngine("b", other))
    assert r.ok and not r.names_verified and r.mrz.given_names == "YAPA"


def test_two_valid_different_values_are_refused() -> None:
    # "6" and "G" weigh the same modulo 10: both readings pass every check digit.
    twin = (TRUTH[0], TRUTH[1].replace("XH5108645", "XH510864S"))
    if twin == TRUTH:
        pytest.skip("no twin")
    alt_lines = build_mrz(MrzFormat.TD3, document_code="P", issuing_country="FRA",
                          document_number="XHS1O8G45", surname="MOLINI", given_names="YAPA",
                          nationality="FRA", birth_date=date(1967, 8, 29), sex="F",
                          expiry_date=date(2034, 2, 11), personal_number="AB12345")
    r = read_with(ScriptedEngine("a", TRUTH), ScriptedEngine("b", alt_lines))
    # The engines disagree: the reader's doubt, not the document's fault (a retry).
    assert not r.ok and r.reason == "document_unreadable"


def _td3(number: str) -> tuple[str, ...]:
    return build_mrz(MrzFormat.TD3, document_code="P", issuing_country="FRA",
                     document_number=number, surname="X", given_names="Y", nationality="FRA",
                     birth_date=date(1967, 8, 29), sex="F", expiry_date=date(2034, 2, 11))


def test_zeros_whose_swap_to_o_cancels_out_are_refused() -> None:
    # Both engines read "0" at weights 7 and 3: "OO" would pass the same check digit
    # (+24x7 +24x3 = 240), and OCR engines do read OCR-B's "O" as "0": refuse, never pick.
    lines = _td3("00AB12345")
    r = read_with(ScriptedEngine("a", lines), ScriptedEngine("b", lines))
    # Its check digits pass as read: refused for the reader's doubt, never declined.
    assert not r.ok and r.reason == "document_unreadable"


def test_letter_o_read_by_every_engine_is_kept() -> None:
    lines = _td3("AO1B0C2D3")  # an "O" both engines read, a "0" the check digit settles
    r = read_with(ScriptedEngine("a", lines), ScriptedEngine("b", lines))
    assert r.ok and r.mrz.document_number == "AO1B0C2D3"


def test_single_engine_congruent_misread_is_not_corroborated() -> None:
    # "U" weighs as "0": if only one engine read the number, nobody can tell them apart.
    lines = _td3("UW9AQJC3B")
    r = read_with(ScriptedEngine("a", lines), ScriptedEngine("b", ["LUVUZAFUWIYIAU", "QQQ"]))
    assert not r.ok


def test_garbage_is_unreadable() -> None:
    r = read_with(ScriptedEngine("a", ["HELLO", "WORLD"]), ScriptedEngine("b", ["", ""]))
    assert not r.ok and r.reason in ("document_unreadable", "mrz_checksum_failed")


def test_fit_line_by_positions_and_filler_runs() -> None:
    assert clean_ocr_text("p<uto« 12") == "P<UTO<<12"
    centers = tuple((i + 0.5) / 10 for i in (0, 1, 2, 7, 8, 9))
    assert fit_line(OcrLine("AB<<CD", centers), 10)[0] == "AB<<<<<<CD"
    assert "AB<<<<<<CD" in fit_line(OcrLine("AB<<<CD"), 10)
    assert all(len(c) == 5 for c in fit_line(OcrLine("A<<<<<<B"), 5))


@pytest.fixture(scope="module")
def reader() -> MrzReader:
    pytest.importorskip("rapidocr")
    pytest.importorskip("tesserocr")
    return MrzReader(today=TODAY)


@pytest.mark.slow
def test_round_trip_clean_documents(reader: MrzReader) -> None:
    gen = DocumentGenerator(11, today=TODAY)
    docs = [gen.passport(), gen.id_card(), gen.passport(), gen.id_card()]
    exact = 0
    for i, doc in enumerate(docs):
        result = reader.read(photograph(doc.mrz_image, "clean", seed=i)[0])
        if result.ok:
            got = result.mrz.fields()
            # Never a wrong protected field; names may only be wrong when unverified.
            assert all(got[k] == v for k, v in doc.expected.items()
                       if k not in ("surname", "given_names"))
            exact += got == doc.expected
    assert exact >= 3


@pytest.mark.slow
def test_rotated_noisy_passport(reader: MrzReader) -> None:
    doc = DocumentGenerator(12, today=TODAY).passport()
    photo, spec = photograph(doc.front, "rotation_noise", seed=3)
    assert abs(spec.rotation_deg) > 2
    result = reader.read(photo)
    assert result.ok and result.mrz.document_number == doc.expected["document_number"]


@pytest.mark.slow
def test_photo_without_document(reader: MrzReader) -> None:
    rng = np.random.default_rng(0)
    noise = (rng.random((600, 800, 3)) * 255).astype(np.uint8)
    result = reader.read(noise)
    assert not result.ok and result.reason in ("document_unreadable", "mrz_checksum_failed")


def test_equal_length_reading_shifted_by_a_gain_and_a_loss_is_aligned() -> None:
    from idproof.verification.document.mrz_text import align

    line = "22BA0Q4ZD5N0R5803147F3510281<<<<<<<<<<<<<<<2"
    # One character gained ("0O"), one filler lost: same length, everything between shifted.
    shifted = "22BA0Q4ZD5N0OR5803147F3510281<<<<<<<<<<<<<<2"
    aligned = align(line, shifted)
    assert aligned[0] == "2" and aligned[13] == "5" and aligned[20] == "F"
    assert all(aligned[col] == line[col] for col in aligned if col >= 13)


def test_names_after_a_lost_filler_in_the_prefix() -> None:
    from idproof.verification.document.mrz_names import _raw_names

    assert _raw_names(MrzFormat.TD3, ["PD<<FANAER<<NATI<<<<<<<<"], "P<D<<") == (
        "FANAER", "NATI")
    assert _raw_names(MrzFormat.TD3, ["PCANMALA<<VILA<<<<<<"], "P<CAN") == ("MALA", "VILA")
    assert _raw_names(MrzFormat.TD3, ["P<CANMALA<<VILA<<<<<<"], "P<CAN") == ("MALA", "VILA")


def test_a_lost_leading_letter_of_the_surname_is_taken_from_the_other_engine() -> None:
    lost = (TRUTH[0].replace("MOLINI", "OLINI") + "<", TRUTH[1])
    r = read_with(ScriptedEngine("a", lost), ScriptedEngine("b", TRUTH))
    assert r.ok and r.mrz.surname == "MOLINI" and not r.names_verified


def test_shape_vote_against_what_both_engines_read_keeps_both_candidates() -> None:
    from idproof.verification.document.mrz_shapes import apply_shape_votes

    lines = ["IDPOLOBRBNDOXN1AG8HMBMSD<<<<<<"]
    alts: dict[tuple[int, int], str] = {}
    apply_shape_votes(lines, alts, {(0, 5): "0", (0, 11): "O0", (0, 3): "O"})
    assert alts[(0, 5)] == "0"  # the shape says zero: both stay, the check digits choose
    assert alts[(0, 11)] == ""  # undecided, every engine read the letter: kept
    assert alts[(0, 3)] == ""  # the shape agrees with the reading: settled


@pytest.mark.slow
def test_tilted_id_card_zone_is_levelled_and_found() -> None:
    from idproof.testing import Degradation, degrade
    from idproof.verification.document.mrz_zone import find_mrz_regions

    doc = DocumentGenerator(7, today=TODAY).id_card()
    for angle in (-9.0, 9.0):
        photo = degrade(doc.mrz_image, Degradation(rotation_deg=angle, noise_sigma=6.0), seed=1)
        regions = find_mrz_regions(photo)
        assert any(len(r.lines) == 3 for r in regions), angle


def test_a_zero_read_as_u_by_the_first_engine_and_o_by_the_others_is_not_accepted_as_u() -> None:
    # "U" weighs as "0" in every check digit: the only passing reading is a misread unless
    # "0" is a candidate too, and then the two are ambiguous.
    as_u = (TRUTH[0], TRUTH[1].replace("XH5108645", "XH51U8645"))
    as_o = (TRUTH[0], TRUTH[1].replace("XH5108645", "XH51O8645"))
    r = read_with(ScriptedEngine("a", as_u), ScriptedEngine("b", as_o),
                  ScriptedEngine("c", as_o))
    assert not r.ok or r.mrz.document_number == "XH5108645"
