"""Branding rules (pure): colour format, WCAG contrast, links, the logo's clean-up."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from pydantic import ValidationError

from idproof.core.errors import IdproofError
from idproof.hosted.branding_rules import BrandingIn, brand_css, clean_logo, contrast


def test_contrast_matches_wcag() -> None:
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#777777", "#ffffff"), 2) == 4.48
    assert contrast("#0b5cad", "#ffffff") > 4.5


@pytest.mark.parametrize("body", [
    {"display_name": "Acme", "accent_color": "red"},
    {"display_name": "Acme", "accent_color": "#12345"},
    {"display_name": "Acme", "accent_color": "#ffcc00"},  # white text unreadable on yellow
    {"display_name": "Acme", "background_color": "#222222"},  # dark text on dark
    {"display_name": "Acme", "accent_color": "#0b5cad", "background_color": "#0a58a0"},
    {"display_name": "", "accent_color": "#0b5cad"},
    {"display_name": "A\nB"},
    {"display_name": "Acme", "privacy_url": "http://acme.example/privacy"},
    {"display_name": "Acme", "privacy_url": "javascript:alert(1)"},
    {"display_name": "Acme", "support_contact": "not an address"},
    {"display_name": "Acme", "logo": "x"},  # extra fields are refused
])
def test_bad_branding_is_refused(body: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        BrandingIn.model_validate(body)


def test_good_branding_passes() -> None:
    b = BrandingIn.model_validate({"display_name": " Acme Bank ", "accent_color": "#8a1538",
                                   "background_color": "#fdfaf3",
                                   "privacy_url": "https://acme.example/privacy",
                                   "support_contact": "help@acme.example"})
    assert b.display_name == "Acme Bank"
    assert brand_css(b.accent_color, b.background_color) == (
        ":root { --accent: #8a1538; --bg: #fdfaf3; }\n")
    with pytest.raises(ValueError):
        brand_css("red;} body{display:none", None)


def _image(fmt: str, size: tuple[int, int] = (900, 300), mode: str = "RGBA") -> bytes:
    buf = io.BytesIO()
    img = Image.new(mode, size, (200, 10, 10, 128) if mode == "RGBA" else (200, 10, 10))
    img.save(buf, format=fmt, **({"exif": b"Exif\x00\x00secret"} if fmt == "JPEG" else {}))
    return buf.getvalue()


def test_logo_is_shrunk_and_re_encoded_as_png_keeping_transparency() -> None:
    out = clean_logo(_image("PNG"))
    with Image.open(io.BytesIO(out)) as img:
        assert img.format == "PNG" and img.size == (512, 171) and img.mode == "RGBA"
        assert img.getpixel((10, 10))[3] == 128
    jpeg = clean_logo(_image("JPEG", mode="RGB"))
    assert b"secret" not in jpeg and jpeg.startswith(b"\x89PNG")


@pytest.mark.parametrize(("data", "code"), [
    (b"", "logo_missing"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
     "unsupported_image_type"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 600_000, "logo_too_large"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image_corrupt"),
])
def test_bad_logos_are_refused(data: bytes, code: str) -> None:
    with pytest.raises(IdproofError) as err:
        clean_logo(data)
    assert err.value.code == code
