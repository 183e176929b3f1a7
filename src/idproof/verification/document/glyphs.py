"""A fixed-pitch reader of MRZ lines: OCR-B prints every character in the same cell width, so
a line cut into its cells and each cell classified gives a reading that never drops or gains
a character (the general OCR engines' commonest MRZ error). The classifier is a small
two-layer network trained by `tools/train_mrz_glyphs.py` on synthetic OCR-B photos; its
weights ship in this package (`models/mrz_glyphs.npz`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from idproof.verification.document.ocr_line import OcrLine

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
CELL_W, CELL_H = 16, 24
# The ink of a full line ends ~0.28 pitch before the last cell's right edge.
_LAST_GLYPH = 0.28
MODEL_PATH = Path(__file__).with_name("models") / "mrz_glyphs.npz"
# Lines of an MRZ have one of these many characters (TD1, TD2 / MRV-B, TD3 / MRV-A).
WIDTHS = (30, 36, 44)


def ink_extent(line: np.ndarray) -> tuple[float, float] | None:
    """First and last column of a line's ink (a dark-on-light grey image)."""
    inv = 255.0 - line.astype(np.float32)
    inv = np.clip(inv - np.percentile(inv, 50), 0, None)
    cols = inv.sum(axis=0)
    if cols.max() <= 0:
        return None
    xs = np.where(cols > 0.15 * cols.max())[0]
    return float(xs[0]), float(xs[-1] + 1)


def cell_bounds(line: np.ndarray, width: int) -> list[tuple[int, int]]:
    """The column range of each of the `width` character cells of a line."""
    extent = ink_extent(line)
    if extent is None:
        return []
    x0, x1 = extent
    pitch = (x1 - x0) / (width - _LAST_GLYPH)
    return [(max(0, round(x0 + (k - 0.15) * pitch)), max(1, round(x0 + (k + 0.85) * pitch)))
            for k in range(width)]


def cells(line: np.ndarray, width: int) -> np.ndarray:
    """The line's `width` cells, each resized to CELL_H x CELL_W and scaled to [0, 1] ink."""
    import cv2

    out = np.zeros((width, CELL_H, CELL_W), np.float32)
    for k, (a, b) in enumerate(cell_bounds(line, width)):
        cell = line[:, a:b]
        if cell.shape[1] < 2:
            continue
        cell = cv2.resize(cell, (CELL_W, CELL_H), interpolation=cv2.INTER_AREA)
        ink = 255.0 - cell.astype(np.float32)
        lo, hi = float(ink.min()), float(ink.max())
        out[k] = (ink - lo) / (hi - lo) if hi - lo > 1 else 0.0
    return out


def estimate_width(line: np.ndarray) -> int | None:
    """How many characters a line holds, from its ink extent and its height (the pitch of
    OCR-B is a fixed share of the line height the reader normalises to)."""
    extent = ink_extent(line)
    if extent is None:
        return None
    chars = (extent[1] - extent[0]) / (PITCH_PER_HEIGHT * line.shape[0]) + _LAST_GLYPH
    best = min(WIDTHS, key=lambda w: abs(w - chars))
    return best if abs(best - chars) <= 5 else None


# Measured on the synthetic documents by tools/train_mrz_glyphs.py (its "pitch/height").
PITCH_PER_HEIGHT = 0.603
# Below this mean class probability on any line, the reader abstains: on the synthetic photos
# every wrong line read scored under 0.9, and 99% of right ones over 0.96.
MIN_LINE_CONFIDENCE = 0.93


class GlyphClassifier:
    """Softmax over ALPHABET from a cell's pixels: ReLU hidden layer, weights from a file."""

    def __init__(self, path: Path = MODEL_PATH) -> None:
        with np.load(path) as data:
            self._w1 = data["w1"].astype(np.float32)
            self._b1 = data["b1"].astype(np.float32)
            self._w2 = data["w2"].astype(np.float32)
            self._b2 = data["b2"].astype(np.float32)
            self._mean = data["mean"].astype(np.float32)

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        x = batch.reshape(len(batch), -1) - self._mean
        h = np.maximum(x @ self._w1 + self._b1, 0.0)
        z = h @ self._w2 + self._b2
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        probs: np.ndarray = e / e.sum(axis=1, keepdims=True)
        return probs


class GlyphEngine:
    """The fixed-pitch reader as an MRZ OCR engine (see `MrzOcrEngine`)."""

    name = "glyphs"

    def __init__(self, classifier: GlyphClassifier | None = None) -> None:
        self._classifier = classifier or GlyphClassifier()

    def read_lines(self, lines: Sequence[np.ndarray]) -> list[OcrLine]:
        if len(lines) == 3:
            width: int | None = 30  # only TD1 has three lines
        else:
            # Two lines: 36 or 44 characters, far enough apart for the ink extent to tell.
            known = [w for w in (estimate_width(line) for line in lines) if w is not None]
            width = max(set(known), key=known.count) if known else None
        if width is None:
            return [OcrLine("") for _ in lines]
        out = []
        for line in lines:
            probs = self._classifier.probabilities(cells(line, width))
            best = probs.max(axis=1)
            if float(best.mean()) < MIN_LINE_CONFIDENCE:
                # Cells off their glyphs (a strong perspective, glare): as the most trusted
                # engine a misread here would do harm, so the reader abstains altogether.
                return [OcrLine("") for _ in lines]
            out.append(OcrLine("".join(ALPHABET[i] for i in probs.argmax(axis=1)),
                               confidence=float(best.mean()),
                               char_confidences=tuple(float(p) for p in best)))
        return out
