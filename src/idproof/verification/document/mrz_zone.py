"""Find the MRZ on a document photo: locate and deskew the zone (OpenCV), cut its lines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from idproof.verification.document.imaging import profile_skew

_WORK_WIDTH = 1000  # the photo is searched at this width; crops come from full resolution
_LINE_HEIGHT = 40  # MRZ lines go to the engines at this height (cap height ~ 28 px)


@dataclass(frozen=True, slots=True)
class MrzRegion:
    """A deskewed crop of a candidate MRZ and its cut lines."""

    image: np.ndarray
    lines: tuple[np.ndarray, ...]
    angle: float



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
