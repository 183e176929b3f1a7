"""Passive presentation-attack detection by frequency analysis (pure numpy).

A selfie taken of a screen carries the screen's pixel grid (and the moire it makes with the
camera's sensor); a selfie of a print carries the printer's halftone screen. Both show up as
sharp, isolated peaks in the 2-D spectrum of the face region, which a camera photo of a real
face does not have. What this measures is exactly that: the strongest spectral peak relative
to the median energy at the same spatial frequency, ignoring the 8-pixel JPEG block grid.
It cannot see a high-resolution print without a visible screen, a mask, or a replay that was
re-photographed out of focus: this is one signal, not a certified PAD (ISO 30107-3) product.
"""

from __future__ import annotations

import numpy as np

from idproof.verification.biometrics.protocols import RGB, Face, PadScore


def _face_patch(image: RGB, face: Face, size: int) -> np.ndarray | None:
    grey = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    b = face.box
    cx, cy = (b.left + b.right) // 2, (b.top + b.bottom) // 2
    half = size // 2
    x0, y0 = max(0, cx - half), max(0, cy - half)
    x1, y1 = min(grey.shape[1], x0 + size), min(grey.shape[0], y0 + size)
    x0, y0 = max(0, x1 - size), max(0, y1 - size)
    # Keep the crop on the 8-pixel JPEG grid so block artefacts land on known bins.
    x0, y0 = x0 - x0 % 8, y0 - y0 % 8
    patch = grey[y0:y0 + size, x0:x0 + size]
    return patch if patch.shape == (size, size) else None


def spectral_peak_ratio(patch: np.ndarray) -> float:
    """Max over mid/high frequencies of |F| / median |F| at the same radius."""
    n = patch.shape[0]
    win = np.outer(np.hanning(n), np.hanning(n))
    spec = np.abs(np.fft.fftshift(np.fft.fft2((patch - patch.mean()) * win)))
    fy, fx = np.indices(spec.shape) - n // 2
    radius = np.hypot(fx, fy).round().astype(int)
    mask = (radius >= n // 10) & (radius < n // 2)
    mask &= (np.abs(fx) > 2) & (np.abs(fy) > 2)  # edges of the crop and of the face
    step = n // 8
    for axis in (fx, fy):  # the JPEG 8x8 block grid
        mask &= np.abs(((axis + 1) % step) - 1) > 1
    medians = np.zeros(radius.max() + 1)
    for r in np.unique(radius[mask]):
        medians[r] = np.median(spec[(radius == r) & mask])
    ratio = np.where(mask, spec / np.maximum(medians[radius], 1e-9), 0.0)
    return float(ratio.max())


class FrequencyPAD:
    """PresentationAttackDetector: screen moire and print halftone as spectral peaks."""

    def __init__(self, threshold: float = 25.0, patch: int = 128) -> None:
        self.threshold = threshold
        self.patch = patch

    def assess(self, image: RGB, face: Face) -> PadScore:
        size = self.patch
        patch = _face_patch(image, face, size)
        if patch is None:
            size = 64
            patch = _face_patch(image, face, size)
        if patch is None:
            return PadScore(0.0, False, {"spectral_peak_ratio": 0.0})
        ratio = spectral_peak_ratio(patch)
        return PadScore(ratio, ratio >= self.threshold, {"spectral_peak_ratio": ratio})
