"""Upload hardening: type by magic bytes, limits, bombs, corrupt files, EXIF stripped."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from idproof.security.uploads import UploadRejected, sanitize_image, sniff


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (320, 200), **save: object) -> bytes:
    img = Image.new("RGB", size, (120, 40, 200))
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save)
    return buf.getvalue()


def code_of(data: bytes, **kw: object) -> tuple[int, str]:
    with pytest.raises(UploadRejected) as exc:
        sanitize_image(data, **kw)  # type: ignore[arg-type]
    return exc.value.status, exc.value.code


@pytest.mark.parametrize("fmt,kind", [("JPEG", "jpeg"), ("PNG", "png"), ("WEBP", "webp")])
def test_accepts_and_reencodes(fmt: str, kind: str) -> None:
    out = sanitize_image(image_bytes(fmt))
    assert out.source_type == kind and (out.width, out.height) == (320, 200)
    assert sniff(out.data) == "jpeg"


def test_heic_accepted() -> None:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    data = image_bytes("HEIF")
    assert sniff(data) == "heic"
    assert sanitize_image(data).width == 320


def test_exif_is_stripped_and_orientation_applied() -> None:
    img = Image.new("RGB", (300, 100), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° when displayed
    exif[0x010F] = "SecretCam"  # Make
    exif[0x8825] = {2: (51.0, 30.0, 0.0)}  # GPS latitude
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    raw = buf.getvalue()
    assert b"SecretCam" in raw
    out = sanitize_image(raw)
    assert b"SecretCam" not in out.data and b"Exif" not in out.data
    assert (out.width, out.height) == (100, 300)


def test_trailing_payload_dropped() -> None:
    data = image_bytes() + b"<?php system($_GET['x']); ?>"
    assert b"<?php" not in sanitize_image(data).data


def test_type_is_from_magic_bytes_not_claims() -> None:
    assert code_of(b"GIF89a" + b"\x00" * 100) == (415, "unsupported_image_type")
    assert code_of(b"%PDF-1.7 ...") == (415, "unsupported_image_type")
    assert code_of(b"") == (415, "unsupported_image_type")


def test_size_and_pixel_limits() -> None:
    assert code_of(image_bytes(), max_bytes=100) == (413, "upload_too_large")
    assert code_of(image_bytes(size=(2000, 2000)), max_pixels=1_000_000) == (
        422, "image_too_large")
    assert code_of(image_bytes(size=(20, 20))) == (422, "image_too_small")


def test_truncated_and_corrupt() -> None:
    data = image_bytes(size=(800, 600))
    assert code_of(data[: len(data) // 3]) == (422, "image_corrupt")
    assert code_of(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64) == (422, "image_corrupt")


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(
        ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def test_decompression_bomb_refused_before_decoding() -> None:
    # A tiny PNG that claims 100,000 x 100,000 pixels of zeros.
    w = h = 100_000
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    comp = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * w
    data = b"".join(comp.compress(row) for _ in range(50)) + comp.flush()
    png = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", data)
           + _png_chunk(b"IEND", b""))
    assert len(png) < 200_000
    status, code = code_of(png)
    assert status == 422 and code in {"image_too_large", "decompression_bomb"}


def _png(mode: str, size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, 0).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def test_implausible_pixels_per_byte_refused() -> None:
    # From the attack pass: 4.9 KB of PNG that decodes to 39.7 megapixels, under MAX_PIXELS.
    data = _png("1", (6300, 6300))
    assert len(data) < 5_000 and 6300 * 6300 < 40_000_000
    assert code_of(data) == (422, "decompression_bomb")
    # the same trick in other modes and formats
    assert code_of(_png("L", (5000, 5000))) == (422, "decompression_bomb")
    buf = io.BytesIO()
    Image.new("RGB", (6000, 6000), (0, 0, 0)).save(buf, format="WEBP", lossless=True)
    assert code_of(buf.getvalue()) == (422, "decompression_bomb")


def test_ratio_spares_small_images_and_real_photos() -> None:
    # a flat small image compresses very well but decodes to little: it is fine
    assert sanitize_image(_png("RGB", (1200, 900))).width == 1200
    # a large image with real detail (noise) has a plausible ratio
    noisy = Image.effect_noise((2600, 1800), 60).convert("RGB")
    buf = io.BytesIO()
    noisy.save(buf, format="JPEG", quality=80)
    assert sanitize_image(buf.getvalue()).width == 2600


def test_concurrent_decodes_share_a_memory_budget(monkeypatch) -> None:
    from idproof.security import uploads

    budget = uploads._DecodeBudget(total=1000)
    monkeypatch.setattr(uploads, "_DECODE_BUDGET", budget)
    monkeypatch.setattr(uploads, "DECODE_WAIT_SECONDS", 0.05)
    data = image_bytes(size=(320, 200))
    with budget.reserve(1000):  # another upload holds the whole budget
        with pytest.raises(uploads.ServerBusy) as exc:
            sanitize_image(data)
        assert exc.value.status == 503 and exc.value.code == "server_busy"
        assert exc.value.headers["Retry-After"]
    assert budget.used == 0
    assert sanitize_image(data).width == 320  # one image bigger than the budget runs alone
    assert budget.used == 0
