"""Upload hardening for images: sniff by magic bytes, bound size and pixels, re-encode clean.

Everything a client uploads is decoded once under limits and re-encoded from pixels alone, so
what is kept carries no EXIF (location, device serials), no trailing payloads and no
polyglot tricks, and a decompression bomb is refused before it is decoded.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from idproof.core.errors import IdproofError

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
MIN_SIDE = 64

_heif_registered = False


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        from pillow_heif import register_heif_opener

        register_heif_opener()
        _heif_registered = True


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


def sanitize_image(data: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS,
                   allowed: frozenset[str] = frozenset({"jpeg", "png", "webp", "heic"}),
                   quality: int = 92) -> CleanImage:
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
                if min(w, h) < MIN_SIDE:
                    raise _reject(422, "image_too_small", "the image is too small to read")
                if getattr(img, "n_frames", 1) > 1 and kind != "heic":
                    raise _reject(415, "unsupported_image_type", "animated images are refused")
                old_limit = Image.MAX_IMAGE_PIXELS
                Image.MAX_IMAGE_PIXELS = max_pixels
                try:
                    img.load()
                finally:
                    Image.MAX_IMAGE_PIXELS = old_limit
                upright = ImageOps.exif_transpose(img)
                rgb = upright.convert("RGB")
    except UploadRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _reject(422, "decompression_bomb", "the image expands too much") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise _reject(422, "image_corrupt", "the image could not be decoded") from None
    # A fresh image from pixels alone: no EXIF, ICC, XMP, comments or trailing bytes survive.
    clean = Image.new("RGB", rgb.size)
    clean.paste(rgb)
    out = io.BytesIO()
    clean.save(out, format="JPEG", quality=quality, optimize=False)
    return CleanImage(out.getvalue(), clean.width, clean.height, kind)
