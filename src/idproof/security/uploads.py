"""Upload hardening for images: sniff by magic bytes, bound size and pixels, re-encode clean.

Everything a client uploads is decoded once under limits and re-encoded from pixels alone, so
what is kept carries no EXIF (location, device serials), no trailing payloads and no
polyglot tricks, and a decompression bomb is refused before it is decoded.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from idproof.core.errors import IdproofError

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
MIN_SIDE = 64
# Decompression ratio: photos and scans carry detail, so even a flat, well-compressed JPEG
# stays under ~70 pixels per input byte and a flat PNG under ~300; a bomb of zeros reaches
# thousands (4.9 KB of 1-bit PNG for 39.7 Mpx is 8,100). Below RATIO_FLOOR_PIXELS an image
# decodes to at most ~12 MB whatever its ratio, so small flat images are left alone.
MAX_PIXELS_PER_BYTE = 250
RATIO_FLOOR_PIXELS = 4_000_000

_heif_registered = False


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        from pillow_heif import register_heif_opener

        register_heif_opener()
        _heif_registered = True


# EXIF orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Bytes of pixels that all concurrent decodes in this process may hold: three largest images
# at once (40 Mpx x 3 bytes x 2 frames each); more wait up to DECODE_WAIT_SECONDS.
DECODE_BUDGET_BYTES = 3 * MAX_PIXELS * 3 * 2
DECODE_WAIT_SECONDS = 30.0


class _DecodeBudget:
    """A counting semaphore in bytes: decodes reserve what they will hold, or wait."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self._cond = threading.Condition()

    @contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        nbytes = min(nbytes, self.total)  # one image larger than the budget still runs alone
        with self._cond:
            if not self._cond.wait_for(lambda: self.used + nbytes <= self.total,
                                       timeout=DECODE_WAIT_SECONDS):
                raise ServerBusy("too many large images are being processed; retry shortly",
                                 headers={"Retry-After": "5"})
            self.used += nbytes
        try:
            yield
        finally:
            with self._cond:
                self.used -= nbytes
                self._cond.notify_all()


class ServerBusy(IdproofError):
    status = 503
    code = "server_busy"
    title = "Service unavailable"


class UploadRejected(IdproofError):
    status = 422
    code = "upload_rejected"
    title = "The upload was refused"


def _reject(status: int, code: str, detail: str) -> UploadRejected:
    return UploadRejected(detail, code=code, status=status)


def sniff(data: bytes) -> str | None:
    """The image type by its magic bytes, whatever the filename or Content-Type claim."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and data[8:12] in {b"heic", b"heix", b"heim", b"heis", b"mif1",
                                               b"msf1", b"hevc", b"hevx"}:
        return "heic"
    return None


@dataclass(frozen=True, slots=True)
class CleanImage:
    data: bytes  # re-encoded JPEG, metadata-free
    width: int
    height: int
    source_type: str


_DECODE_BUDGET = _DecodeBudget(DECODE_BUDGET_BYTES)


def sanitize_image(data: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS,
                   allowed: frozenset[str] = frozenset({"jpeg", "png", "webp", "heic"}),
                   quality: int = 92,
                   max_pixels_per_byte: int = MAX_PIXELS_PER_BYTE) -> CleanImage:
    """Check and re-encode one uploaded image; raises UploadRejected with a stable code."""
    if len(data) > max_bytes:
        raise _reject(413, "upload_too_large", f"images may be at most {max_bytes} bytes")
    kind = sniff(data)
    if kind is None or kind not in allowed:
        raise _reject(415, "unsupported_image_type", "send a JPEG, PNG, WebP or HEIC image")
    if kind == "heic":
        _register_heif()
    try:
        with warnings.catch_warnings():
            # Pillow warns (rather than raises) between 1x and 2x MAX_IMAGE_PIXELS; make every
            # bomb warning an error so nothing large is decoded.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if (img.format or "").lower() not in {"jpeg", "png", "webp", "heif", "heic",
                                                      "avif"}:
                    raise _reject(415, "unsupported_image_type", "not a supported image")
                w, h = img.size
                if w * h > max_pixels:
                    raise _reject(422, "image_too_large", f"images may have at most "
                                  f"{max_pixels} pixels")
                if w * h > RATIO_FLOOR_PIXELS and w * h > max_pixels_per_byte * len(data):
                    raise _reject(422, "decompression_bomb", "the image expands too much")
                if min(w, h) < MIN_SIDE:
                    raise _reject(422, "image_too_small", "the image is too small to read")
                if getattr(img, "n_frames", 1) > 1 and kind != "heic":
                    raise _reject(415, "unsupported_image_type", "animated images are refused")
                # Decoding and the clean copy hold about two RGB frames; the budget keeps
                # concurrent uploads from adding up past a bound (they wait, or get a 503).
                with _DECODE_BUDGET.reserve(w * h * 3 * 2):
                    old_limit = Image.MAX_IMAGE_PIXELS
                    Image.MAX_IMAGE_PIXELS = max_pixels
                    try:
                        img.load()
                    finally:
                        Image.MAX_IMAGE_PIXELS = old_limit
                    turn = _ORIENTATION.get(img.getexif().get(0x0112, 1))
                    # A fresh image from pixels alone: no EXIF, ICC, XMP, comments or
                    # trailing bytes survive. Pasting converts the mode on the way, so no
                    # third full-size copy is made.
                    clean = Image.new("RGB", (w, h))
                    clean.paste(img if img.mode == "RGB" else img.convert("RGB"))
                    img.close()  # the decoded frame goes before anything else is allocated
                    if turn is not None:
                        clean = clean.transpose(turn)
                    out = io.BytesIO()
                    clean.save(out, format="JPEG", quality=quality, optimize=False)
    except UploadRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _reject(422, "decompression_bomb", "the image expands too much") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise _reject(422, "image_corrupt", "the image could not be decoded") from None
    return CleanImage(out.getvalue(), clean.width, clean.height, kind)
