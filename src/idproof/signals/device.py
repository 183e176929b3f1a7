"""Device fingerprint (pure): the attributes the hosted page submits, hashed, and their hints."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

from pydantic import BaseModel, ConfigDict, Field

_HEX = r"^[0-9a-f]{8,64}$"


class DeviceAttributes(BaseModel):
    """What `hosted.js` / the web SDK collects: stable, coarse browser properties. No
    identifiers, no cookies; the canvas and audio values are already hashes."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_agent: str = Field(max_length=512)
    platform: str = Field("", max_length=64)
    languages: list[str] = Field(default_factory=list, max_length=16)
    timezone: str = Field("", max_length=64)
    screen_width: int = Field(0, ge=0, le=20000)
    screen_height: int = Field(0, ge=0, le=20000)
    color_depth: int = Field(0, ge=0, le=64)
    pixel_ratio: float = Field(1.0, gt=0, le=16)
    hardware_concurrency: int = Field(0, ge=0, le=1024)
    device_memory: float = Field(0, ge=0, le=1024)
    touch_points: int = Field(0, ge=0, le=64)
    webgl_vendor: str = Field("", max_length=128)
    webgl_renderer: str = Field("", max_length=256)
    canvas_hash: str = Field("", pattern=r"^$|" + _HEX)
    webdriver: bool = False
    plugins: int = Field(0, ge=0, le=256)


# The attributes that identify the device; the user agent's version is left out so that a
# browser update does not make a new device.
_STABLE = ("platform", "timezone", "screen_width", "screen_height", "color_depth",
           "pixel_ratio", "hardware_concurrency", "device_memory", "touch_points",
           "webgl_vendor", "webgl_renderer", "canvas_hash")
_VERSION = re.compile(r"\d+(\.\d+)+")


def canonical(attrs: DeviceAttributes) -> bytes:
    """The stable attributes as canonical JSON (the input of the fingerprint hash)."""
    data: dict[str, object] = {k: getattr(attrs, k) for k in _STABLE}
    data["ua_family"] = _VERSION.sub("", attrs.user_agent)
    data["languages"] = sorted(attrs.languages)[:4]
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def fingerprint(tenant_key: bytes, attrs: DeviceAttributes) -> str:
    """HMAC-SHA-256 of the canonical attributes under the tenant's key: the same device gives
    the same value in one tenant and unrelated values across tenants."""
    return hmac.new(tenant_key, canonical(attrs), hashlib.sha256).hexdigest()


_MOBILE = re.compile(r"Android|iPhone|iPad|Mobile", re.I)
_SOFT_GL = re.compile(r"SwiftShader|llvmpipe|softpipe|Mesa OffScreen", re.I)
_EMULATOR = re.compile(r"Android Emulator|Android SDK built for|sdk_gphone|Genymotion|"
                       r"goldfish|ranchu", re.I)
_UA_OS = (("Windows", ("Win",)), ("Macintosh", ("Mac",)), ("Android", ("Linux", "Android")),
          ("iPhone", ("iPhone",)), ("CrOS", ("Linux", "CrOS")), ("X11; Linux", ("Linux",)))


def automation_hints(attrs: DeviceAttributes) -> list[str]:
    """Why the browser looks automated or headless (empty when it does not)."""
    hints: list[str] = []
    ua = attrs.user_agent
    if attrs.webdriver:
        hints.append("navigator.webdriver")
    if "HeadlessChrome" in ua or "PhantomJS" in ua or "Electron/" in ua:
        hints.append("headless user agent")
    if not attrs.languages:
        hints.append("no languages")
    if attrs.platform:
        for marker, platforms in _UA_OS:
            if marker in ua and not attrs.platform.startswith(platforms):
                hints.append("user agent and platform disagree")
                break
    if _MOBILE.search(ua) and attrs.touch_points == 0:
        hints.append("mobile user agent without touch")
    if _SOFT_GL.search(attrs.webgl_renderer) and not _MOBILE.search(ua):
        hints.append("software renderer")
    return hints


def emulator_hints(attrs: DeviceAttributes) -> list[str]:
    """Why a mobile device looks emulated."""
    hints: list[str] = []
    if _EMULATOR.search(attrs.user_agent) or _EMULATOR.search(attrs.webgl_renderer):
        hints.append("emulator build")
    if _MOBILE.search(attrs.user_agent) and _SOFT_GL.search(attrs.webgl_renderer):
        hints.append("mobile with software renderer")
    return hints
