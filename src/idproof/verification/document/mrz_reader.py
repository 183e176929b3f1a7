"""Read the MRZ of a document photo: find and deskew the zone (OpenCV), cut its lines, OCR
them with every engine, and accept only what the check digits and the engines confirm."""

from __future__ import annotations

import difflib
import itertools
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Final

import numpy as np

from idproof.verification.document.imaging import profile_skew
from idproof.verification.document.mrz import (
    DIGIT_TO_LETTER,
    DOCUMENT_UNREADABLE,
    FILLER,
    LINE_SHAPES,
    MRZ_ALPHABET,
    MRZ_CHECKSUM_FAILED,
    OCR_CONFUSIONS,
    Kind,
    MrzError,
    MrzFormat,
    MrzParser,
    ParsedMrz,
    ReasonCode,
    char_value,
    detect_format,
    encode_name,
    field_kinds,
    protected_positions,
    split_name_field,
)
from idproof.verification.document.ocr import MrzOcrEngine, OcrLine, default_engines

_WORK_WIDTH = 1000  # the photo is searched at this width; crops come from full resolution
_LINE_HEIGHT = 40  # MRZ lines go to the engines at this height (cap height ~ 28 px)


@dataclass(frozen=True, slots=True)
class MrzRegion:
    """A deskewed crop of a candidate MRZ and its cut lines."""

    image: np.ndarray
    lines: tuple[np.ndarray, ...]
    angle: float


@dataclass(slots=True)
class MrzReadResult:
    """The outcome of reading one image. `mrz` is set only when valid; `names_verified` is
    True only when two engines read the same (check-digit-free) names."""

    mrz: ParsedMrz | None
    names_verified: bool = False
    reason: ReasonCode | None = None
    engines_valid: tuple[str, ...] = ()
    readings: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.mrz is not None


# -- finding the zone -------------------------------------------------------------------------


def _to_gray(image: Any) -> np.ndarray:
    import cv2

    arr = np.asarray(image)
    if arr.ndim == 3:
        return cv2.cvtColor(arr[..., :3], cv2.COLOR_RGB2GRAY)
    return arr.astype(np.uint8)


def find_mrz_regions(image: Any, max_regions: int = 3) -> list[MrzRegion]:
    """Candidate MRZ crops, best first: groups of 2-3 long, parallel, equally wide text lines
    (the widest such group first), deskewed.

    Tightly spaced lines tilted by more than a few degrees merge into one blob under the
    line-joining filter (a tilted TD1 zone especially); when no group of lines is found, the
    photo is levelled by its estimated text skew and searched again."""
    gray = _to_gray(image)
    regions = _find_regions(gray, max_regions)
    if any(len(r.lines) >= 2 for r in regions):
        return regions
    skew = _text_skew(gray)
    if abs(skew) < 2.0:
        return regions
    import cv2

    # Rotated within the photo's own frame: a document photographed with a margin around it
    # loses nothing, and the line search keeps the scale it is tuned to (a larger canvas
    # made it merge or miss lines).
    h, w = gray.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), skew, 1.0)
    level = cv2.warpAffine(gray, m, (w, h), flags=cv2.INTER_CUBIC,
                           borderMode=cv2.BORDER_REPLICATE)
    levelled = [MrzRegion(r.image, r.lines, r.angle + skew)
                for r in _find_regions(level, max_regions)]
    return (levelled + regions)[:max_regions]


def _text_skew(gray: np.ndarray) -> float:
    """The rotation (degrees, counter-clockwise) that makes the photo's text rows level: the
    angle whose row profile of dark, thin strokes is the most peaked."""
    import cv2

    scale = 600 / gray.shape[1]
    small = cv2.resize(gray, (600, max(1, round(gray.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)
    blackhat = cv2.morphologyEx(small, cv2.MORPH_BLACKHAT,
                                cv2.getStructuringElement(cv2.MORPH_RECT, (15, 7)))
    _, ink = cv2.threshold(blackhat, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return profile_skew(ink, np.arange(-15.0, 15.01, 0.5))


def _find_regions(gray: np.ndarray, max_regions: int) -> list[MrzRegion]:
    import cv2

    scale = _WORK_WIDTH / gray.shape[1]
    small = cv2.resize(gray, (_WORK_WIDTH, max(1, round(gray.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (3, 3), 0)
    # Black-hat keeps dark strokes narrower than the kernel: text, not shadows or photos.
    blackhat = cv2.morphologyEx(small, cv2.MORPH_BLACKHAT,
                                cv2.getStructuringElement(cv2.MORPH_RECT, (19, 9)))
    grad = np.abs(cv2.Sobel(blackhat, cv2.CV_32F, 1, 0, ksize=-1))
    # OpenCV takes None for the output array (allocated and returned); its stubs do not.
    grad = cv2.normalize(grad, None, 0, 255,  # type: ignore[call-overload]
                         cv2.NORM_MINMAX).astype(np.uint8)
    grad = cv2.morphologyEx(grad, cv2.MORPH_CLOSE,
                            cv2.getStructuringElement(cv2.MORPH_RECT, (21, 3)))
    _, mask = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    # Join the characters of one line (wide, flat kernel) without joining lines.
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE,
                            cv2.getStructuringElement(cv2.MORPH_RECT, (25, 3)))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN,
                            cv2.getStructuringElement(cv2.MORPH_RECT, (9, 3)))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    lines = []
    for c in contours:
        (cx, cy), (w, h), angle = cv2.minAreaRect(c)
        if w < h:
            w, h, angle = h, w, angle - 90
        angle = (angle + 90) % 180 - 90
        if abs(angle) > 30 or w < 0.2 * _WORK_WIDTH or h < 4 or w / h < 6:
            continue
        lines.append((cx, cy, w, h, angle, c))
    groups = _group_lines(lines)
    regions = []
    for group in groups[:max_regions]:
        pts = np.concatenate([g[5] for g in group]).astype(np.float32)
        (cx, cy), (w, h), angle = cv2.minAreaRect(pts)
        if w < h:
            w, h, angle = h, w, angle - 90
        angle = (angle + 90) % 180 - 90
        region = _cut_region(gray, (cx / scale, cy / scale, w / scale, h / scale, angle))
        if region is not None:
            regions.append(region)
    return regions


def _group_lines(lines: list[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
    """Runs of 2-3 neighbouring lines of about the same width and angle, widest first; a
    single very wide line is kept too (its neighbour may have been lost to glare)."""
    lines = sorted(lines, key=lambda t: t[1])
    groups: list[tuple[float, list[tuple[Any, ...]]]] = []
    for i, first in enumerate(lines):
        group = [first]
        for other in lines[i + 1:]:
            last = group[-1]
            pitch = other[1] - last[1]
            if (pitch > 3.5 * max(last[3], other[3]) or abs(other[2] - first[2]) > 0.12 * first[2]
                    or abs(other[4] - first[4]) > 4
                    or abs(other[0] - first[0]) > 0.12 * first[2]):
                continue
            group.append(other)
            if len(group) == 3:
                break
        if len(group) >= 2:
            groups.append((sum(g[2] for g in group) / len(group) * (1 + 0.01 * len(group)), group))
    groups.sort(key=lambda t: -t[0])
    out: list[list[tuple[Any, ...]]] = []
    for _score, group in groups:
        if not any(all(g in o for g in group) for o in out):
            out.append(group)
    return out


def _cut_region(gray: np.ndarray, rect: tuple[float, float, float, float, float]
                ) -> MrzRegion | None:
    import cv2

    cx, cy, w, h, angle = rect
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    pad_x, pad_y = 0.04 * w + 10, 0.25 * h + 8
    x0, y0 = int(cx - w / 2 - pad_x), int(cy - h / 2 - pad_y)
    x1, y1 = int(cx + w / 2 + pad_x), int(cy + h / 2 + pad_y)
    # Rotate only the neighbourhood (faster than the whole photo).
    matrix[:, 2] -= (x0, y0)
    crop = cv2.warpAffine(gray, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE)
    crop, fine = _fine_deskew(crop)
    lines = _cut_lines(crop)
    if not lines:
        return None
    return MrzRegion(crop, tuple(lines), angle + fine)


def _fine_deskew(crop: np.ndarray) -> tuple[np.ndarray, float]:
    """Remove the skew left by the coarse estimate: the angle whose row profile of ink is
    the most peaked (lines separate cleanly only when truly horizontal)."""
    import cv2

    # None output array: accepted by OpenCV, not by its stubs.
    norm = cv2.normalize(crop, None, 0, 255, cv2.NORM_MINMAX)  # type: ignore[call-overload]
    _, ink = cv2.threshold(norm, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    small = cv2.resize(ink, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    best = profile_skew(small, np.arange(-2.0, 2.01, 0.25))
    if best == 0.0:
        return crop, 0.0
    m = cv2.getRotationMatrix2D((crop.shape[1] / 2, crop.shape[0] / 2), best, 1.0)
    return cv2.warpAffine(crop, m, (crop.shape[1], crop.shape[0]), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE), best


def _cut_lines(crop: np.ndarray) -> list[np.ndarray]:
    """The text lines of a deskewed crop, from the row profile of its ink."""
    import cv2

    # None output array: accepted by OpenCV, not by its stubs.
    norm = cv2.normalize(crop, None, 0, 255, cv2.NORM_MINMAX)  # type: ignore[call-overload]
    _, ink = cv2.threshold(norm, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    profile = (ink > 0).mean(axis=1)
    active = profile > max(0.04, 0.25 * float(profile.max()))
    runs: list[tuple[int, int]] = []
    start = None
    for i, on in enumerate([*active.tolist(), False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            runs.append((start, i))
            start = None
    if not runs:
        return []
    # Text lines are the tallest bands and span most of the crop; edges of the printed band,
    # security lines and dust are thin or short.
    tallest = max(b - a for a, b in runs)
    runs = [(a, b) for a, b in runs if b - a >= 0.55 * tallest
            and (ink[a:b].max(axis=0) > 0).mean() > 0.5]
    lines = []
    for a, b in runs:
        hgt = b - a
        pad = max(3, round(0.3 * hgt))
        y0, y1 = max(0, a - pad), min(crop.shape[0], b + pad)
        cols = np.where(ink[a:b].mean(axis=0) > 0)[0]
        if cols.size == 0:
            continue
        x0 = max(0, int(cols[0]) - hgt)
        x1 = min(crop.shape[1], int(cols[-1]) + hgt)
        line = norm[y0:y1, x0:x1]
        factor = _LINE_HEIGHT / max(1, line.shape[0])
        line = cv2.resize(line, (max(1, round(line.shape[1] * factor)), _LINE_HEIGHT),
                          interpolation=cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA)
        lines.append(line)
    return lines


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


# -- the reader -------------------------------------------------------------------------------


class MrzReader:
    """Reads an MRZ from a photo with several OCR engines (in order of trust).

    Every mix of the engines' line readings is parsed, each line taking the other engines'
    aligned characters (and, for O/0, a glyph-shape vote) as candidates that only check
    digits may pick. A result is accepted only when exactly one valid MRZ comes out of all
    of that (two different valid ones: refused), when a second engine corroborates its
    check-digit protected characters, and never with an unknown ("<") birth date. Names,
    which no check digit covers, count as verified only when every engine read them alike.
    """

    def __init__(self, engines: Sequence[MrzOcrEngine] | None = None, *,
                 today: date | None = None, allow_specimen: bool = False) -> None:
        self.engines = list(engines) if engines is not None else default_engines()
        if not self.engines:
            raise RuntimeError("no OCR engine available (tesserocr / rapidocr)")
        # Candidates come from the other engines and from the O/0 shape vote, not from the
        # generic confusion table (which can turn one misread into a passing one); every
        # candidate counts (exhaustive), so two that both pass make the field ambiguous.
        self._parser = MrzParser(today=today, allow_specimen=allow_specimen,
                                 confusion_repair=False, max_repairs=3, exhaustive=True)

    def read(self, image: Any) -> MrzReadResult:
        started = time.perf_counter()
        result = MrzReadResult(None, reason=DOCUMENT_UNREADABLE)
        declined: MrzReadResult | None = None
        for region in find_mrz_regions(image):
            result = self._read_region(region)
            if result.ok:
                break
            if result.reason == MRZ_CHECKSUM_FAILED and declined is None:
                declined = result
        else:
            # A zone that engines read alike and whose check digits fail is evidence about
            # the document; a later candidate region (other text on the page) that nobody
            # could read must not hide it behind a retry.
            if declined is not None:
                result = declined
        result.seconds = time.perf_counter() - started
        return result

    def _read_region(self, region: MrzRegion) -> MrzReadResult:
        lines = list(region.lines)
        if len(lines) > 3:
            lines = lines[-3:]  # extra bands above the zone: the MRZ sits at the bottom
        if len(lines) < 2:
            return MrzReadResult(None, reason=DOCUMENT_UNREADABLE)
        ocr = {engine.name: engine.read_lines(lines) for engine in self.engines}
        # An engine that abstained (read nothing at all) neither votes nor corroborates.
        ocr = {name: res for name, res in ocr.items() if any(o.text for o in res)} or ocr
        readings = {name: tuple(o.text for o in res) for name, res in ocr.items()}
        valid = self._candidates(ocr, len(lines), lines)
        if len(valid) != 1:
            # Nothing valid, or two different valid values (one of them a misread that the
            # check digits cannot see): refuse rather than pick.
            return self._refuse(readings, lines, valid_readings=len(valid))
        chosen, sources = next(iter(valid.values()))
        if len(self.engines) >= 2 and not _corroborated(chosen, sources, ocr):
            # Only one engine saw what the check digits accepted: a reader's doubt.
            return self._refuse(readings, lines, valid_readings=1)
        if chosen.birth_date is None:
            # "<" in a birth date means "unknown" to Doc 9303, but to OCR it is also what a
            # lost "0" turns into, with the same check-digit weight: not accepted from a photo
            # (and not held against the document either: its check digits passed).
            return self._refuse(readings, lines, valid_readings=1)
        chosen, verified = _settle_names(chosen, ocr)
        return MrzReadResult(chosen, names_verified=verified, reason=None,
                             engines_valid=tuple(dict.fromkeys(sources)), readings=readings)

    def _refuse(self, readings: dict[str, tuple[str, ...]], images: Sequence[np.ndarray],
                *, valid_readings: int) -> MrzReadResult:
        """A refusal, with the reason `refusal_reason` gives (decline or retry)."""
        zone = agreed_zone(readings)
        doubts = _shape_doubts(zone[0], images) if zone is not None else set()
        reason = refusal_reason(readings, valid_readings=valid_readings, doubts=doubts)
        return MrzReadResult(None, reason=reason, readings=readings)

    def _candidates(self, ocr: dict[str, list[OcrLine]], n_lines: int,
                    images: Sequence[np.ndarray] | None = None,
                    ) -> dict[tuple[object, ...], tuple[ParsedMrz, tuple[str, ...]]]:
        """Every valid MRZ that some mix of the engines' lines gives, each line taking the
        other engines' aligned readings as repair candidates and the O/0 shape vote."""
        trust = list(ocr)
        valid: dict[tuple[object, ...], tuple[ParsedMrz, tuple[str, ...]]] = {}
        widths = sorted({w for cnt, w in LINE_SHAPES.values() if cnt == n_lines})
        for width in widths:
            per_line: list[list[tuple[str, str]]] = []
            for li in range(n_lines):
                seen: dict[str, str] = {}
                # A reading of the right length is taken as is; lines that had to be
                # stretched or squeezed (a character lost or gained) only when none is.
                exact = [n for n in trust if len(ocr[n][li].text) == width]
                for name in exact or trust:
                    for text in fit_line(ocr[name][li], width)[: 1 if exact else 2]:
                        seen.setdefault(text, name)
                per_line.append([(name, text) for text, name in seen.items()])
            if not all(per_line):
                continue
            for combo in itertools.product(*per_line):
                lines, alternatives = _aligned_alternatives(combo, ocr, trust)
                try:
                    fmt = detect_format(lines)
                except MrzError:
                    continue
                if images is not None and len(images) == len(lines):
                    _apply_shape_votes(lines, alternatives, _shape_votes(lines, images, fmt))
                try:
                    parsed = self._parser.parse(lines, alternatives)
                except MrzError:
                    continue
                if parsed.valid:
                    valid.setdefault(_protected_key(parsed),
                                     (parsed, tuple(n for n, _t in combo)))
        return valid


def _protected_key(p: ParsedMrz) -> tuple[object, ...]:
    return (p.document_type, p.document_code, p.issuing_country, p.document_number,
            p.nationality, p.birth_date, p.sex, p.expiry_date, p.personal_number,
            p.optional_data, p.optional_data_2)


def _congruent(a: str, b: str) -> bool:
    """Characters whose values differ by a multiple of 10: no check digit tells them apart."""
    return (char_value(a) - char_value(b)) % 10 == 0


# The longest run of characters of one engine's line taken as misread one-for-one against
# another's; longer "substitutions" are misalignments.
_MAX_SUBSTITUTION = 3


def _aligned_alternatives(combo: Sequence[tuple[str, str]], ocr: dict[str, list[OcrLine]],
                          trust: Sequence[str]
                          ) -> tuple[list[str], dict[tuple[int, int], str]]:
    """The chosen lines adjusted by trust, and what the other engines read where they differ.

    Each other engine's raw text is aligned to the line (difflib): only one-for-one
    substitutions become candidates, so a dropped or extra character in one engine does not
    shift its whole reading into "alternatives". Where two engines read characters the check
    digits cannot separate ("<" and "K", "6" and "G"), offering both would only make the
    field ambiguous: the more trusted engine's character is taken.
    """
    rank = {name: i for i, name in enumerate(trust)}
    lines = [list(text) for _name, text in combo]
    alts: dict[tuple[int, int], str] = {}
    dissent: dict[tuple[int, int], set[str]] = {}
    agreed: set[tuple[int, int]] = set()
    width = len(combo[0][1])
    for li, (source, text) in enumerate(combo):
        for name in trust:
            if name == source or li >= len(ocr[name]):
                continue
            if rank[name] < rank[source]:
                # A more trusted engine's reading, fitted to the same width, settles the
                # characters that no check digit can separate.
                for fitted in fit_line(ocr[name][li], width)[:1]:
                    for col, (a, b) in enumerate(zip(text, fitted, strict=True)):
                        if a != b and _congruent(a, b):
                            lines[li][col] = b
            pairs = sorted(_align(text, ocr[name][li].text).items())
            for col, b in pairs:
                a = text[col]
                if a == b:
                    continue
                if _congruent(a, b):
                    if rank[name] < rank[source]:
                        lines[li][col] = b
                    continue
                if a == FILLER and rank[name] > rank[source]:
                    # A less trusted engine's "character" where the trusted one reads a
                    # filler is, here, Tesseract drawing "<" as K, S or E: not a candidate.
                    continue
                # An "O" or "0" read where the line has neither brings its twin: engines swap
                # them all the time, and the chosen character may be a third misread of
                # either ("U" weighs as "0" in every check digit).
                twins = "0O" if b in "0O" and a not in "0O" else b
                for cand in twins:
                    if cand not in alts.get((li, col), ""):
                        alts[(li, col)] = alts.get((li, col), "") + cand
                dissent.setdefault((li, col), set()).add(name)
            for col, b in pairs:
                if text[col] == b:
                    agreed.add((li, col))
    # A character that every other engine read otherwise, none alike, may itself be a
    # misread: what it is commonly misread from is a candidate too. (A "0" read as "O" by two
    # engines and as "U", which weighs as "0" in every check digit, by the third must come
    # out ambiguous, not as the one reading that happens to pass.)
    for (li, col), names in dissent.items():
        a = combo[li][1][col]
        if (li, col) in agreed or len(names) < 2:
            continue
        for cand in OCR_CONFUSIONS.get(a, ()):
            if cand not in alts.get((li, col), ""):
                alts[(li, col)] = alts.get((li, col), "") + cand
    return ["".join(line) for line in lines], alts


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


def _shape_votes(lines: Sequence[str], images: Sequence[np.ndarray], fmt: MrzFormat
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


def _apply_shape_votes(lines: list[str], alternatives: dict[tuple[int, int], str],
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


# -- corroboration ----------------------------------------------------------------------------

def _corroborated(chosen: ParsedMrz, combo_sources: Sequence[str],
                  ocr: dict[str, list[OcrLine]], max_unseen: int = 2) -> bool:
    """Whether a second engine saw the check-digit protected characters of the accepted MRZ.

    Another engine's reading, aligned to each line, must not hold a character of the same
    check-digit weight as the accepted one (a lost "0" read as "U" by one engine passes every
    check digit: only the other engine can tell), and may leave at most `max_unseen`
    protected characters of a line unaligned (a garbled second reading proves nothing).
    """
    protected: dict[int, list[int]] = {}
    for li, col in protected_positions(chosen.document_type, chosen.lines):
        if chosen.lines[li][col] != FILLER:
            protected.setdefault(li, []).append(col)
    for li, cols in protected.items():
        line = chosen.lines[li]
        for name in ocr:
            if name == combo_sources[li] or li >= len(ocr[name]):
                continue
            seen = _align(line, ocr[name][li].text)
            unseen = 0
            ok = True
            for col in cols:
                got = seen.get(col)
                if got is None:
                    unseen += 1
                elif got != line[col] and _congruent(got, line[col]):
                    ok = False
                    break
            if ok and unseen <= max_unseen:
                break
        else:
            return False
    return True


def _align(line: str, text: str) -> dict[int, str]:
    """Column of `line` -> the character of `text` aligned to it (equal or substituted).

    Aligned even when both have the same length: a character gained in one place and lost
    in another ("N0OR" for "N0R", one "<" fewer) keeps the length and shifts everything in
    between. Only short substitutions count: a long run "replaced" by as many characters is
    a misalignment, not a misread."""
    out: dict[int, str] = {}
    matcher = difflib.SequenceMatcher(None, line, text, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1 <= _MAX_SUBSTITUTION):
            for k in range(i2 - i1):
                out[i1 + k] = text[j1 + k]
    return out


# -- why a zone was refused -------------------------------------------------------------------

# A refusal either declines the document (`mrz_checksum_failed`, final) or asks for another
# photo (`document_unreadable`, retried while attempts remain). A check digit that fails
# because the reader misread a character says nothing about the document, so the decline is
# kept for the one case where the failure cannot be the reader's: independent engines read
# the very same zone, character for character, with nothing corrected to get there, and its
# check digits still fail.

# Parses the agreed zone exactly as read: no repair, no candidates, no forced mapping. Only
# its check results are used, so its idea of today (for dates' centuries) does not matter.
_AS_READ = MrzParser(repair=False, allow_specimen=True)


def agreed_zone(readings: Mapping[str, Sequence[str]]
                ) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The zone text that at least two engines read identically (every line, as read) and
    the names of those engines; None when no two engines agree, or when two groups of
    engines each agree on a different text (the engines disagree)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for name, lines in readings.items():
        key = tuple(lines)
        if any(key):  # an engine that read nothing agrees with nobody
            groups.setdefault(key, []).append(name)
    agreed = [(text, tuple(names)) for text, names in groups.items() if len(names) >= 2]
    return agreed[0] if len(agreed) == 1 else None


# The one numeric position Doc 9303 lets hold a filler that the reader accepts: TD3's
# personal-number check digit, when there is no personal number.
_FILLER_DIGITS: Final[dict[MrzFormat, frozenset[tuple[int, int]]]] = {
    MrzFormat.TD3: frozenset({(1, 42)}),
}


def _fits(ch: str, kind: Kind, filler_ok: bool = False) -> bool:
    """Whether `ch` can stand at a position of this kind. A letter in a date or a digit in a
    name is a misread by definition, however many engines made it; so is a "<" in a date or
    a check digit: OCR turns a faint "0" into one (an unknown birth date, which Doc 9303
    allows, is refused by the reader all the same)."""
    if ch not in MRZ_ALPHABET:
        return False
    if kind == "numeric":
        return ch.isdigit() or (filler_ok and ch == FILLER)
    if kind == "alpha":
        return ch.isalpha() or ch == FILLER
    return True


def refusal_reason(readings: Mapping[str, Sequence[str]], *, valid_readings: int = 0,
                   doubts: Collection[tuple[int, int]] = ()) -> ReasonCode:
    """The reason for refusing a zone: `mrz_checksum_failed` (a decline) or
    `document_unreadable` (a retry).

    `readings`: each engine's own text of the zone's lines, most trusted engine first, as
    read (engines that abstained may be left out); `valid_readings`: how many different valid
    MRZs the reader found (any means the check digits can pass, so the refusal is about the
    reader's doubts: ambiguity, no second engine, an unknown birth date); `doubts`: (line,
    column) positions where the reader itself held another candidate for the agreed
    character (an O/0 its shape vote could not settle).

    `mrz_checksum_failed` only when all of these hold, else `document_unreadable`:
    - nothing valid was found;
    - at least two engines read the identical zone, of an MRZ's exact shape (no line
      stretched or squeezed to fit), and no other pair of engines agreed on another text;
    - every character fits its field (no letter-to-digit mapping needed);
    - no other engine that read the zone saw a different character at a check-digit
      protected position, and the reader had no doubt of its own there (a correction was
      possible, whether or not it passed);
    - parsed exactly as read, a check digit fails (a filler inside the document number is a
      lost character, not a check digit failure).
    """
    if valid_readings:
        return DOCUMENT_UNREADABLE
    found = agreed_zone(readings)
    if found is None:
        return DOCUMENT_UNREADABLE
    zone, agreeing = found
    try:
        fmt = detect_format(zone)
    except MrzError:
        return DOCUMENT_UNREADABLE
    kinds = field_kinds(fmt)
    filler_digits = _FILLER_DIGITS.get(fmt, frozenset())
    if not all(_fits(ch, kinds[(li, col)], (li, col) in filler_digits)
               for li, line in enumerate(zone) for col, ch in enumerate(line)):
        return DOCUMENT_UNREADABLE
    protected = protected_positions(fmt, zone)
    if set(protected) & set(doubts):
        return DOCUMENT_UNREADABLE
    trust = {name: i for i, name in enumerate(readings)}
    most_trusted = min(trust[n] for n in agreeing)
    for name, lines in readings.items():
        if name in agreeing or not any(lines):
            continue
        aligned = [_align(zone[li], lines[li]) if li < len(lines) else {}
                   for li in range(len(zone))]
        for li, col in protected:
            if li >= len(lines):
                continue
            # What the engine saw there: aligned (a lost or gained character elsewhere
            # shifts the rest) and, for a line of the same length, column for column too;
            # either differing is dissent (erring towards a retry, never a decline).
            seen = {aligned[li].get(col)}
            if len(lines[li]) == len(zone[li]):
                seen.add(lines[li][col])
            seen -= {None, zone[li][col]}
            if not seen:
                continue
            if zone[li][col] == FILLER and trust[name] > most_trusted:
                # As in the fusion: a less trusted engine's "character" where the agreeing
                # engines read a filler is Tesseract drawing "<" as K, S or E.
                continue
            return DOCUMENT_UNREADABLE
    try:
        parsed = _AS_READ.parse(zone)
    except MrzError:
        return DOCUMENT_UNREADABLE
    if FILLER in parsed.document_number:
        # Fillers only pad a document number at its end: one inside is a lost character.
        return DOCUMENT_UNREADABLE
    failing = [name for name, ok in parsed.checks.items() if not ok]
    return MRZ_CHECKSUM_FAILED if failing else DOCUMENT_UNREADABLE


def _shape_doubts(zone: Sequence[str], images: Sequence[np.ndarray]) -> set[tuple[int, int]]:
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
    _apply_shape_votes(lines, alternatives, _shape_votes(lines, images, fmt))
    return {pos for pos, alt in alternatives.items() if alt}


# -- names ------------------------------------------------------------------------------------


def _raw_names(fmt: MrzFormat, texts: Sequence[str], prefix: str = ""
               ) -> tuple[str, str] | None:
    """Primary and secondary identifiers from one engine's own text of the name line.

    On TD2/TD3 the names follow the document code and issuing state (`prefix`, as the
    accepted MRZ has them); an engine that lost or gained a character there ("PD<<" for
    "P<D<<") would shift the names, so they start after that engine's own issuing state."""
    li, start = (2, 0) if fmt is MrzFormat.TD1 else (0, 5)
    if li >= len(texts) or len(texts[li]) <= start:
        return None
    text = texts[li]
    if start and len(prefix) == start:
        state = prefix[2:5].rstrip(FILLER)
        found = text.find(state, 1, start + 2) if state else -1
        if found >= 0:
            start = found + len(state)
            while start < len(text) and text[start] == FILLER and start < found + 3:
                start += 1  # the state's own fillers ("D<<"), not the names' separators
    return split_name_field(_letters_only(text[start:]))


def _settle_names(chosen: ParsedMrz, ocr: dict[str, list[OcrLine]]) -> tuple[ParsedMrz, bool]:
    """Names carry no check digit. They are taken from the most trusted engine's own text
    of the name line (not from a line stretched to fit), and count as verified only when
    every engine's own text gives the same primary and secondary identifiers."""
    prefix = chosen.lines[0][:5]
    names = [_raw_names(chosen.document_type, [o.text for o in res], prefix)
             for res in ocr.values()]
    trusted = next((n for n in names if n is not None and n[0]), None)
    if trusted is None:
        return chosen, False
    for other in names:
        # PP-OCR now and then drops the first character of a line ("ASONO" for "TASONO");
        # another engine's reading that is the same but for one leading letter is taken.
        if (other is not None and other[1] == trusted[1] and len(other[0]) > 1
                and other[0][1:] == trusted[0] and other[0][0].isalpha()):
            trusted = other
            break
    if trusted != (chosen.surname, chosen.given_names):
        li, start = (2, 0) if chosen.document_type is MrzFormat.TD1 else (0, 5)
        lines = list(chosen.lines)
        width = len(lines[li]) - start
        field_text = encode_name(trusted[0], trusted[1], width)
        lines[li] = lines[li][:start] + field_text
        chosen = replace(chosen, surname=trusted[0], given_names=trusted[1],
                         lines=tuple(lines))
    verified = len(names) >= 2 and all(n == trusted for n in names)
    return chosen, verified


def _letters_only(text: str) -> str:
    # Digits cannot stand in a name: the parser maps them to letters, and so must we here.
    return "".join(DIGIT_TO_LETTER.get(c, c) for c in text)
