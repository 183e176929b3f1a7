"""The fixed-pitch glyph reader: cells, line width, exact readings of clean lines, and the
training tool on a tiny run."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from idproof.testing import DocumentGenerator, photograph
from idproof.verification.document.glyphs import (
    CELL_H,
    CELL_W,
    MODEL_PATH,
    GlyphEngine,
    cell_bounds,
    cells,
    estimate_width,
)
from idproof.verification.document.mrz_zone import find_mrz_regions
from idproof.verification.document.ocr_line import MrzOcrEngine

TODAY = date(2026, 1, 1)


def test_the_model_ships_in_the_package() -> None:
    assert MODEL_PATH.is_file() and MODEL_PATH.stat().st_size < 1_000_000
    assert isinstance(GlyphEngine(), MrzOcrEngine)


def test_cells_split_a_line_at_a_fixed_pitch() -> None:
    line = np.full((40, 620), 255, np.uint8)
    for k in range(30):  # 30 dark glyph blocks, 20 px apart
        line[8:32, 10 + 20 * k:24 + 20 * k] = 0
    bounds = cell_bounds(line, 30)
    assert len(bounds) == 30
    pitches = np.diff([a for a, _b in bounds])
    assert pitches.min() >= 19 and pitches.max() <= 21
    assert cells(line, 30).shape == (30, CELL_H, CELL_W)
    assert cell_bounds(np.full((40, 100), 255, np.uint8), 30) == []


@pytest.mark.parametrize("kind", ["passport", "id_card"])
def test_clean_lines_read_exactly_at_the_right_width(kind: str) -> None:
    gen = DocumentGenerator(4242, today=TODAY)
    engine = GlyphEngine()
    for i in range(3):
        doc = gen.passport() if kind == "passport" else gen.id_card()
        photo, _spec = photograph(doc.mrz_image, "clean", seed=i)
        lines = list(find_mrz_regions(photo)[0].lines)[-len(doc.mrz_lines):]
        if kind == "passport":
            widths = [estimate_width(line) for line in lines]
            assert 44 in widths and set(widths) <= {44, None}  # never another width
        got = [r.text for r in engine.read_lines(lines)]
        assert got == list(doc.mrz_lines)


def test_blank_lines_give_empty_readings() -> None:
    blank = [np.full((40, 600), 255, np.uint8)] * 2
    assert [r.text for r in GlyphEngine().read_lines(blank)] == ["", ""]


def test_training_tool_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tools.train_mrz_glyphs as tool

    x, y, pitch = tool.collect(4, seed=999_000)
    assert len(x) == len(y) > 100 and 0.5 < float(np.median(pitch)) < 0.7
    params = tool.train(x, y, hidden=16, epochs=1, seed=1)
    assert 0.0 <= tool.accuracy(params, x, y) <= 1.0
