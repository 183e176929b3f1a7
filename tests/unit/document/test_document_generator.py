"""Synthetic document generator: valid MRZs, seeded determinism, degradations, AAMVA barcodes."""

from __future__ import annotations

from datetime import date

import pytest

# Skip, rather than fail, where the imaging stack (numpy, Pillow, OpenCV) is not installed.
pytest.importorskip("numpy")
pytest.importorskip("PIL")
pytest.importorskip("cv2")

import numpy as np

from idproof.testing import (
    DEGRADATION_LEVELS,
    Degradation,
    DocumentGenerator,
    degrade,
    mrz_font_path,
    photograph,
)
from idproof.verification.document.mrz import MrzFormat, parse_mrz

TODAY = date(2026, 1, 1)


def test_passports_and_id_cards_carry_valid_mrz_matching_expected_fields() -> None:
    gen = DocumentGenerator(1, today=TODAY)
    for _ in range(10):
        for doc in (gen.passport(), gen.id_card()):
            parsed = parse_mrz(doc.mrz_lines, today=TODAY)
            assert parsed.valid, parsed.problems
            assert parsed.fields() == doc.expected
            assert parsed.expiry_date is not None and parsed.expiry_date > TODAY
            assert parsed.birth_date is not None and parsed.birth_date < TODAY
    assert doc.mrz_format is MrzFormat.TD1 and doc.back is not None
    assert doc.mrz_image is doc.back  # the TD1 MRZ is on the back


def test_same_seed_same_documents() -> None:
    a, b = DocumentGenerator(42).passport(), DocumentGenerator(42).passport()
    assert a.mrz_lines == b.mrz_lines and a.identity == b.identity
    assert np.array_equal(np.asarray(a.front), np.asarray(b.front))
    assert DocumentGenerator(43).passport().mrz_lines != a.mrz_lines


def test_layout_sizes() -> None:
    gen = DocumentGenerator(3, px_per_mm=8)
    assert gen.passport().front.size == (1000, 704)  # 125 x 88 mm
    assert gen.id_card().front.size == (685, 432)  # 85.6 x 54 mm


def test_mrz_font_is_ocr_b() -> None:
    path = mrz_font_path()
    assert path is not None and path.endswith(("OCRB.otf", "OCRB.ttf"))


@pytest.mark.parametrize("level", DEGRADATION_LEVELS)
def test_degradations_are_deterministic(level: str) -> None:
    doc = DocumentGenerator(5, px_per_mm=5).id_card()
    one, spec = photograph(doc.back, level, seed=9)
    two, spec2 = photograph(doc.back, level, seed=9)
    assert spec == spec2 and np.array_equal(np.asarray(one), np.asarray(two))
    assert one.mode == "RGB" and one.width >= doc.back.width
    if level == "rotation_noise":
        assert abs(spec.rotation_deg) <= 10


def test_degrade_effects() -> None:
    img = DocumentGenerator(6, px_per_mm=4).passport().front
    clean = np.asarray(degrade(img, Degradation(margin=0.0), 1), dtype=float)
    dark = np.asarray(degrade(img, Degradation(margin=0.0, brightness=0.3), 1), dtype=float)
    assert dark.mean() < 0.45 * clean.mean()
    glare = np.asarray(degrade(img, Degradation(margin=0.0, glare=0.9), 1), dtype=float)
    assert glare.max(axis=2).mean() > clean.max(axis=2).mean()
    rotated = degrade(img, Degradation(rotation_deg=10), 1)
    assert rotated.width > img.width


def test_us_licence_barcode_round_trip() -> None:
    pytest.importorskip("zxingcpp")
    from idproof.verification.document.barcode import read_aamva

    gen = DocumentGenerator(8, today=TODAY)
    for canadian in (False, True):
        doc = gen.us_licence(canadian=canadian)
        assert doc.back is not None and doc.barcode_payload
        record = read_aamva(doc.back)
        assert record.fields() == doc.expected
        photo, _ = photograph(doc.back, "clean", seed=1)
        assert read_aamva(photo).customer_id == doc.expected["customer_id"]
