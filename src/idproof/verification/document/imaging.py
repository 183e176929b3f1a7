"""Small image geometry shared by the document readers: levelling by rotation, skew by the
row profile of ink."""

from __future__ import annotations

from typing import Any

import numpy as np


def rotate_bound(gray: np.ndarray, angle: float, *, border: float | None = None,
                 interpolation: int | None = None) -> np.ndarray:
    """`gray` rotated by `angle` degrees (counter-clockwise) on a canvas large enough to keep
    every corner; the uncovered corners take `border` (default: the edge pixels repeated)."""
    import cv2

    h, w = gray.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    flags = cv2.INTER_CUBIC if interpolation is None else interpolation
    if border is None:
        return cv2.warpAffine(gray, m, (nw, nh), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    return cv2.warpAffine(gray, m, (nw, nh), flags=flags, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=border)


def profile_skew(ink: Any, angles: Any) -> float:
    """Among `angles`, the rotation whose row profile of `ink` (a binary image) is the most
    peaked: text rows separate cleanly only when truly level."""
    import cv2

    center = (ink.shape[1] / 2, ink.shape[0] / 2)
    best, best_score = 0.0, -1.0
    for angle in angles:
        m = cv2.getRotationMatrix2D(center, float(angle), 1.0)
        rotated = cv2.warpAffine(ink, m, (ink.shape[1], ink.shape[0]))
        score = float(np.var(rotated.sum(axis=1, dtype=np.float64)))
        if score > best_score:
            best, best_score = float(angle), score
    return best
