"""Fit and align an OCR engine's reading of one MRZ line to the line's width and columns."""

from __future__ import annotations

import difflib

from idproof.verification.document.mrz import (
    FILLER,
)
from idproof.verification.document.ocr_line import OcrLine

# -- from OCR text to MRZ lines ---------------------------------------------------------------


def fit_line(line: OcrLine, width: int) -> list[str]:
    """Candidate MRZ lines of exactly `width` characters for one OCR reading.

    With character positions (Tesseract), each character lands in its column, and a column
    nobody claimed is a filler (engines drop "<" more than anything else). Without them, the
    filler runs are stretched or shrunk, longest run first.
    """
    text = line.text
    out: list[str] = []
    if len(text) == width:
        out.append(text)
    if line.centers and len(line.centers) == len(text) and text:
        first, last = line.centers[0], line.centers[-1]
        if last > first:
            pitch = (last - first) / (width - 1)
            cells = [FILLER] * width
            ok = True
            for ch, c in zip(text, line.centers, strict=True):
                k = round((c - first) / pitch)
                if not 0 <= k < width:
                    ok = False
                    break
                if cells[k] != FILLER and ch != FILLER:
                    ok = False  # two characters in one column: positions are not reliable
                    break
                if ch != FILLER:
                    cells[k] = ch
            claimed = {round((c - first) / pitch) for c in line.centers}
            for k in range(1, width - 1):
                # An empty column between two characters is a lost character, not a filler
                # (and "<" weighs as much as "0", "A", "K" or "U": no check digit would know).
                if (k not in claimed and cells[k - 1] != FILLER and cells[k + 1] != FILLER):
                    ok = False
            if ok:
                out.append("".join(cells))
    if len(text) != width:
        out.extend(_stretch_fillers(text, width))
    return list(dict.fromkeys(out))  # unique, in order


def _stretch_fillers(text: str, width: int) -> list[str]:
    if not text:
        return []
    diff = width - len(text)
    runs = [(m_start, m_end) for m_start, m_end in _filler_runs(text)]
    out = []
    if diff > 0:
        if not runs:
            return [text + FILLER * diff]
        # Fillers were dropped: add them to the longest run, or to the last run.
        for _a, b in sorted(runs, key=lambda r: -(r[1] - r[0]))[:2]:
            out.append(text[:b] + FILLER * diff + text[b:])
    else:
        for a, b in sorted(runs, key=lambda r: -(r[1] - r[0]))[:2]:
            if b - a > -diff:
                out.append(text[:a] + text[a - diff:])
        if not out:
            out.append(text[:width])
    return [o for o in out if len(o) == width]


def _filler_runs(text: str) -> list[tuple[int, int]]:
    runs, start = [], None
    for i, c in enumerate(text + "x"):
        if c == FILLER and start is None:
            start = i
        elif c != FILLER and start is not None:
            runs.append((start, i))
            start = None
    return runs



# The longest run of characters of one engine's line taken as misread one-for-one against
# another's; longer "substitutions" are misalignments.
MAX_SUBSTITUTION = 3


def align(line: str, text: str) -> dict[int, str]:
    """Column of `line` -> the character of `text` aligned to it (equal or substituted).

    Aligned even when both have the same length: a character gained in one place and lost
    in another ("N0OR" for "N0R", one "<" fewer) keeps the length and shifts everything in
    between. Only short substitutions count: a long run "replaced" by as many characters is
    a misalignment, not a misread."""
    out: dict[int, str] = {}
    matcher = difflib.SequenceMatcher(None, line, text, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1 <= MAX_SUBSTITUTION):
            for k in range(i2 - i1):
                out[i1 + k] = text[j1 + k]
    return out
