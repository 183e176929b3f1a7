"""Tenant branding rules (pure): colour format and WCAG contrast, the settings model, the logo."""

from __future__ import annotations

import io
import re

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from idproof.core.errors import ValidationFailed
from idproof.security.uploads import sanitize_image

HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
TEXT = "#1b1f24"  # the pages' text colour (hosted.css --fg)
WHITE = "#ffffff"
MIN_TEXT_CONTRAST = 4.5  # WCAG 2.x AA, normal text
MIN_UI_CONTRAST = 3.0  # WCAG 2.x AA, user-interface components
LOGO_MAX_BYTES = 512 * 1024
LOGO_MAX_PIXELS = 4_000_000
LOGO_MAX_SIDE = 512  # stored at most this wide and high (re-encoded PNG)
_EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}$")
_HTTPS = re.compile(r"^https://[A-Za-z0-9.-]+(:\d{1,5})?(/[^\s<>\"']*)?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def luminance(colour: str) -> float:
    """WCAG relative luminance of `#rrggbb`."""
    def channel(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio, 1 to 21."""
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


class BrandingIn(BaseModel):
    """What a tenant sets. Colours are `#rrggbb`; the accent carries white button text and
    must read on the background; the background must carry the pages' dark text."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    display_name: str = Field(min_length=1, max_length=64)
    accent_color: str = Field(default="#0b5cad", pattern=HEX.pattern)
    background_color: str | None = Field(default=None, pattern=HEX.pattern)
    privacy_url: str | None = Field(default=None, max_length=500)
    support_contact: str | None = Field(default=None, max_length=254)

    @field_validator("display_name")
    @classmethod
    def _name(cls, v: str) -> str:
        if _CONTROL.search(v):
            raise ValueError("control characters are not allowed")
        return v

    @field_validator("privacy_url")
    @classmethod
    def _privacy(cls, v: str | None) -> str | None:
        if v is not None and not _HTTPS.match(v):
            raise ValueError("an https:// URL")
        return v

    @field_validator("support_contact")
    @classmethod
    def _support(cls, v: str | None) -> str | None:
        if v is not None and not (_EMAIL.match(v) or _HTTPS.match(v)):
            raise ValueError("an e-mail address or an https:// URL")
        return v

    @model_validator(mode="after")
    def _contrast(self) -> BrandingIn:
        background = self.background_color or WHITE
        if contrast(self.accent_color, WHITE) < MIN_TEXT_CONTRAST:
            raise ValueError(f"accent_color needs a contrast of at least {MIN_TEXT_CONTRAST}:1 "
                             "with white button text")
        if contrast(TEXT, background) < MIN_TEXT_CONTRAST:
            raise ValueError(f"background_color needs a contrast of at least "
                             f"{MIN_TEXT_CONTRAST}:1 with the text colour {TEXT}")
        if contrast(self.accent_color, background) < MIN_UI_CONTRAST:
            raise ValueError(f"accent_color needs a contrast of at least {MIN_UI_CONTRAST}:1 "
                             "with the background")
        return self


def clean_logo(data: bytes) -> bytes:
    """A PNG, JPEG or WebP logo (no SVG: it can carry script), checked like any upload,
    shrunk to fit LOGO_MAX_SIDE and re-encoded as PNG without metadata."""
    if not data:
        raise ValidationFailed("send the logo image as the request body", code="logo_missing")
    if len(data) > LOGO_MAX_BYTES:
        raise ValidationFailed(f"the logo may be at most {LOGO_MAX_BYTES} bytes",
                               code="logo_too_large")
    # The upload checks first (magic bytes, size, pixel count, bomb ratio, a full decode);
    # then the vetted bytes again, keeping transparency, into a fresh metadata-free image.
    sanitize_image(data, max_bytes=LOGO_MAX_BYTES, max_pixels=LOGO_MAX_PIXELS,
                   allowed=frozenset({"jpeg", "png", "webp"}))
    with Image.open(io.BytesIO(data)) as img:
        rgba = img.convert("RGBA")
    fresh = Image.new("RGBA", rgba.size)
    fresh.paste(rgba)
    fresh.thumbnail((LOGO_MAX_SIDE, LOGO_MAX_SIDE))
    out = io.BytesIO()
    fresh.save(out, format="PNG", optimize=True)
    return out.getvalue()


def brand_css(accent: str, background: str | None) -> str:
    """The tenant's stylesheet: custom properties only, from checked `#rrggbb` values."""
    if not HEX.match(accent) or (background is not None and not HEX.match(background)):
        raise ValueError("colours must be #rrggbb")
    props = [f"--accent: {accent};"]
    if background is not None:
        props.append(f"--bg: {background};")
    return ":root { " + " ".join(props) + " }\n"
