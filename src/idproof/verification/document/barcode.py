"""PDF417 barcode reading (zxing-cpp) for the back of US and Canadian licences."""

from __future__ import annotations

from typing import Any

from idproof.verification.document.aamva import AamvaError, AamvaRecord, parse_aamva
from idproof.verification.document.imaging import rotate_bound


def _decode(arr: Any) -> list[bytes]:
    import zxingcpp  # imported here: only documents with a barcode need the native library

    # The local-average binarizer trips over very crisp, noisy captures that a global
    # threshold reads at once, so both are tried, the cheaper first.
    formats = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.PDF417)
    for binarizer in (zxingcpp.Binarizer.LocalAverage, zxingcpp.Binarizer.GlobalHistogram):
        results = zxingcpp.read_barcodes(arr, formats=formats,
                                         try_rotate=True, try_downscale=True,
                                         binarizer=binarizer)
        found = [bytes(r.bytes) for r in results if r.valid]
        if found:
            # `bytes` is the raw payload; `text` would escape AAMVA's control characters.
            return found
    return []


def barcode_skew(gray: Any) -> float | None:
    """The tilt in degrees of the largest bar-code-like block (dense vertical strokes), or
    None. zxing reads PDF417 only within a few degrees of level; a hand-held photo of a
    licence is often tilted more."""
    import cv2
    import numpy as np

    scale = 800 / max(gray.shape) if max(gray.shape) > 800 else 1.0
    small = cv2.resize(gray, None, fx=scale, fy=scale) if scale != 1.0 else gray
    # Bars give strong horizontal gradients and weak vertical ones.
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3)
    grad = cv2.convertScaleAbs(cv2.subtract(np.abs(gx), np.abs(gy)))
    grad = cv2.blur(grad, (9, 9))
    _t, mask = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE,
                            cv2.getStructuringElement(cv2.MORPH_RECT, (21, 7)))
    # OpenCV takes None for the default 3x3 kernel; its stubs do not allow it.
    mask = cv2.dilate(cv2.erode(mask, None, iterations=3),  # type: ignore[call-overload]
                      None, iterations=3)
    contours, _h = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    biggest = max(contours, key=cv2.contourArea)
    if cv2.contourArea(biggest) < 0.02 * small.size:
        return None
    (_cx, _cy), (w, h), angle = cv2.minAreaRect(biggest)
    # minAreaRect's angle is that of one side: bring it to the long (horizontal) side.
    if w < h:
        angle -= 90
    angle = (angle + 90) % 180 - 90
    return float(angle)


def read_pdf417(image: Any) -> list[bytes]:
    """Raw payloads of every PDF417 symbol in `image` (a PIL image or a numpy array)."""
    import numpy as np

    arr = np.asarray(image)
    if arr.ndim == 3:
        arr = (arr[..., :3] @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
    found = _decode(arr)
    if found:
        return found
    # Level a tilted photo: the estimated tilt first, then a few fixed ones around it.
    estimate = barcode_skew(arr)
    tries = [estimate] if estimate is not None and abs(estimate) > 1.5 else []
    tries += [a for a in (-4.0, 4.0, -8.0, 8.0, -12.0, 12.0)
              if estimate is None or abs(a - estimate) > 2.0]
    for angle in tries:
        level = rotate_bound(arr, angle)
        found = _decode(level)
        if found:
            return found
    return []


def read_aamva(image: Any) -> AamvaRecord:
    """The AAMVA record of the licence in `image`; `AamvaError` when none can be read."""
    payloads = read_pdf417(image)
    if not payloads:
        raise AamvaError("no PDF417 barcode found")
    last: AamvaError | None = None
    for payload in payloads:
        try:
            return parse_aamva(payload)
        except AamvaError as exc:
            last = exc
    assert last is not None
    raise last


def pdf417_image(payload: str | bytes, *, scale: int = 3) -> Any:
    """A PIL image of `payload` as PDF417 (for synthetic licences and tests)."""
    import numpy as np
    import zxingcpp
    from PIL import Image

    barcode = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.PDF417)
    return Image.fromarray(np.asarray(barcode.to_image(scale=scale)))
