"""Images in memory only: check an upload like any other, decode it to pixels, scale it.

Decoding goes from bytes to a numpy array through Pillow on a BytesIO: no library here is
handed a file name, so nothing touches the disk (no temp files).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from idproof.security.uploads import MAX_BYTES, sanitize_image
from idproof.verification.biometrics.protocols import RGB

FRAME_MAX_BYTES = 2 * 1024 * 1024
FRAME_MAX_PIXELS = 4_000_000


def decode_upload(data: bytes, *, jpeg_only: bool = False,
                  max_bytes: int = MAX_BYTES, max_pixels: int | None = None) -> RGB:
    """The same checks as documents (type, size, pixels, bombs), then RGB pixels."""
    kw: dict[str, object] = {"max_bytes": max_bytes}
    if jpeg_only:
        kw["allowed"] = frozenset({"jpeg"})
    if max_pixels is not None:
        kw["max_pixels"] = max_pixels
    clean = sanitize_image(data, **kw)  # type: ignore[arg-type]
    return decode_clean(clean.data)


def decode_clean(data: bytes) -> RGB:
    """Pixels of an image that was already checked (e.g. a stored, decrypted document)."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def fit(image: RGB, max_side: int) -> RGB:
    """Scale down so the longer side is at most `max_side` (detection cost grows with area)."""
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))


def grey_thumb(image: RGB, size: tuple[int, int] = (160, 120)) -> np.ndarray:
    return np.asarray(Image.fromarray(image).convert("L").resize(size, Image.Resampling.BOX),
                      dtype=np.float64)
