"""PDF417 on the back of a licence: tilted and degraded photos still read, via deskew."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from PIL import Image

from idproof.testing import (
    DEGRADATION_LEVELS,
    DocumentGenerator,
    photograph,
)
from idproof.verification.document.barcode import barcode_skew, read_aamva, read_pdf417

TODAY = date(2026, 11, 1)


@pytest.fixture(scope="module")
def licence():  # type: ignore[no-untyped-def]
    return DocumentGenerator(8, today=TODAY).us_licence()


@pytest.mark.parametrize("angle", [-12, -9, -5, 5, 9, 12])
def test_tilted_barcode_is_levelled_and_read(licence, angle: int) -> None:
    tilted = licence.back.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True,
                                 fillcolor=(120, 120, 120))
    skew = barcode_skew(np.asarray(tilted.convert("L")))
    assert skew is not None and abs(skew + angle) < 1.5
    assert read_aamva(tilted).fields() == licence.expected


@pytest.mark.parametrize("level", DEGRADATION_LEVELS)
def test_degraded_photos_of_the_back_read(level: str) -> None:
    gen = DocumentGenerator(3, today=TODAY)
    for seed in range(3):
        doc = gen.us_licence(canadian=seed == 1)
        photo, _spec = photograph(doc.back, level, seed=seed)
        assert read_aamva(photo).customer_id == doc.expected["customer_id"]


def test_no_barcode_no_payload() -> None:
    blank = Image.new("RGB", (900, 560), (230, 225, 210))
    assert barcode_skew(np.asarray(blank.convert("L"))) is None
    assert read_pdf417(blank) == []
