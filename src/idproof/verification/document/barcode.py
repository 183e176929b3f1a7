"""PDF417 barcode reading (zxing-cpp) for the back of US and Canadian licences."""

from __future__ import annotations

from typing import Any

from idproof.verification.document.aamva import AamvaError, AamvaRecord, parse_aamva


def read_pdf417(image: Any) -> list[bytes]:
    """Raw payloads of every PDF417 symbol in `image` (a PIL image or a numpy array)."""
    import numpy as np
    import zxingcpp  # imported here: only documents with a barcode need the native library

    arr = np.asarray(image)
    if arr.ndim == 3:
        arr = (arr[..., :3] @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
    # The local-average binarizer trips over very crisp, noisy captures that a global
    # threshold reads at once, so both are tried, the cheaper first.
    for binarizer in (zxingcpp.Binarizer.LocalAverage, zxingcpp.Binarizer.GlobalHistogram):
        results = zxingcpp.read_barcodes(arr, formats=zxingcpp.BarcodeFormat.PDF417,
                                         try_rotate=True, try_downscale=True,
                                         binarizer=binarizer)
        found = [bytes(r.bytes) for r in results if r.valid]
        if found:
            # `bytes` is the raw payload; `text` would escape AAMVA's control characters.
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
