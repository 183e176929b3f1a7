"""Tell "O" from "0" by glyph shape where the check digits cannot."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from idproof.verification.document.mrz import (
    MrzError,
    MrzFormat,
    detect_format,
    field_kinds,
)

# -- telling "O" from "0" by shape ------------------------------------------------------------

# Both engines confuse OCR-B's "O" and "0" (PP-OCR reads about half the O's as zeros), and
# two such errors can cancel out in a check digit. OCR-B draws the letter rounder than the
# digit; the ratio of the horizontal to the vertical spread of a glyph's ink tells them
# apart, calibrated on the zeros the same image prints in its date fields.
_ZERO_LIKE = "0UQD"
_ROUND_LETTER_MIN = 0.028  # spread ratio this much above the zeros' one: an "O"
_ZERO_MAX = 0.006  # less than this above: a "0"; in between: undecided, both stay candidates


def glyph_roundness(line: np.ndarray, width: int) -> list[float | None]:
    """Horizontal/vertical ink spread of each of the `width` character cells of a line."""
    inv = 255.0 - line.astype(np.float32)
    inv = np.clip(inv - np.percentile(inv, 50), 0, None)
    cols = inv.sum(axis=0)
    if cols.max() <= 0:
        return [None] * width
    xs = np.where(cols > 0.15 * cols.max())[0]
    x0, x1 = float(xs[0]), float(xs[-1] + 1)
    # The last glyph is narrower than a full pitch: the ink ends ~0.28 pitch early.
    pitch = (x1 - x0) / (width - 0.28)
    out: list[float | None] = []
    ys_all = np.arange(inv.shape[0], dtype=np.float32)[:, None]
    for k in range(width):
        a = round(x0 + (k - 0.15) * pitch)
        b = round(x0 + (k + 0.85) * pitch)
        cell = inv[:, max(a, 0):max(b, 1)]
        mass = float(cell.sum())
        if mass <= 0 or cell.shape[1] < 3:
            out.append(None)
            continue
        xs_c = np.arange(cell.shape[1], dtype=np.float32)[None, :]
        cy = float((ys_all * cell).sum() / mass)
        cx = float((xs_c * cell).sum() / mass)
        sy = float(np.sqrt((((ys_all - cy) ** 2) * cell).sum() / mass))
        sx = float(np.sqrt((((xs_c - cx) ** 2) * cell).sum() / mass))
        out.append(sx / sy if sy > 0 else None)
    return out


def shape_votes(lines: Sequence[str], images: Sequence[np.ndarray], fmt: MrzFormat
                 ) -> dict[tuple[int, int], str]:
    """"O", "0" or "O0" (undecided) for each alphanumeric position read as either."""
    kinds = field_kinds(fmt)
    width = len(lines[0])
    ratios = [glyph_roundness(img, width) for img in images]
    def reference(rows: Sequence[int]) -> float | None:
        # The calibration must be self-consistent, or the cells are not where we think they
        # are (perspective, a bad crop): then shape decides nothing.
        zeros = [r for li in rows for col, ch in enumerate(lines[li])
                 if ch in "0O" and kinds[(li, col)] == "numeric"
                 and (r := ratios[li][col]) is not None]
        consistent = (len(zeros) >= 3 and float(np.ptp(zeros)) < 0.02) or (
            len(zeros) == 2 and float(np.ptp(zeros)) < 0.008)
        return float(np.median(zeros)) if consistent else None

    votes: dict[tuple[int, int], str] = {}
    for li, line in enumerate(lines):
        # Calibrated on the zeros of the same line when it has some (light, blur and crop
        # differ from one line to the next), else on the whole zone with a wider margin.
        ref, widen = reference([li]), 1.0
        if ref is None:
            ref, widen = reference(range(len(lines))), 1.5
        for col, ch in enumerate(line):
            if ch not in "0O" or kinds[(li, col)] != "alnum":
                continue
            r = ratios[li][col]
            if r is None or ref is None:
                votes[(li, col)] = "O0"
            elif r - ref > _ROUND_LETTER_MIN * widen:
                votes[(li, col)] = "O"
            elif r - ref < _ZERO_MAX / widen:
                votes[(li, col)] = "0"
            else:
                votes[(li, col)] = "O0"
    return votes


def apply_shape_votes(lines: list[str], alternatives: dict[tuple[int, int], str],
                       votes: dict[tuple[int, int], str]) -> None:
    """The shape vote settles an O/0 position when it agrees with what was read. When it
    decisively disagrees (both engines read OCR-B's slim zero as a letter now and then),
    both stay candidates; an undecided vote leaves the letter that every engine read (PP-OCR
    rarely invents one). Otherwise both stay candidates, and the check digits must single
    one out among all the combinations."""
    for (li, col), vote in votes.items():
        read = lines[li][col]
        others = alternatives.get((li, col), "")
        # "Every engine read the letter" means no engine offered a zero or one of its
        # look-alikes ("U" even weighs as "0" in every check digit).
        letter_only = not set(others) & set(_ZERO_LIKE)
        settle = vote == read or (vote == "O0" and read == "O" and letter_only)
        if settle:
            alternatives[(li, col)] = others.replace("O", "").replace("0", "")
        else:
            alternatives[(li, col)] = others.replace("O", "").replace("0", "") + (
                "0" if read == "O" else "O")



def shape_doubts(zone: Sequence[str], images: Sequence[np.ndarray]) -> set[tuple[int, int]]:
    """Positions of the agreed zone where the O/0 shape vote leaves another candidate: the
    reader would have tried the twin there, so a failure may be its misread."""
    if len(images) != len(zone):
        return set()
    try:
        fmt = detect_format(zone)
    except MrzError:
        return set()
    lines = list(zone)
    alternatives: dict[tuple[int, int], str] = {}
    apply_shape_votes(lines, alternatives, shape_votes(lines, images, fmt))
    return {pos for pos, alt in alternatives.items() if alt}
