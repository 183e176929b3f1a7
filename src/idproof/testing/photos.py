"""Seeded photo degradations of synthetic documents (rotation, noise, blur, light, glare)."""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass
from typing import Final

import numpy as np
from PIL import Image

# -- photo simulation and degradations --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Degradation:
    """How a capture spoils the document: every field 0/None means a clean, upright photo."""

    rotation_deg: float = 0.0
    perspective: float = 0.0  # corner displacement as a share of the document size
    noise_sigma: float = 0.0  # Gaussian sensor noise, in 8-bit levels
    blur_sigma: float = 0.0  # Gaussian blur in pixels
    brightness: float = 1.0  # < 1: low light (with a warm cast)
    glare: float = 0.0  # strength of a specular highlight, 0..1
    jpeg_quality: int | None = None
    margin: float = 0.12  # table visible around the document, share of its width


DEGRADATION_LEVELS: Final = ("clean", "rotation_noise", "blur", "low_light", "jpeg", "glare",
                             "perspective")


def sample_degradation(level: str, rng: random.Random) -> Degradation:
    """Random parameters within a named level (the benchmark's rows)."""
    if level == "clean":
        return Degradation()
    if level == "rotation_noise":
        return Degradation(rotation_deg=rng.uniform(-10, 10), noise_sigma=rng.uniform(5, 10))
    if level == "blur":
        return Degradation(blur_sigma=rng.uniform(0.8, 1.6))
    if level == "low_light":
        return Degradation(brightness=rng.uniform(0.25, 0.45), noise_sigma=rng.uniform(2, 4))
    if level == "jpeg":
        return Degradation(jpeg_quality=rng.randint(20, 40))
    if level == "glare":
        return Degradation(glare=rng.uniform(0.5, 0.85))
    if level == "perspective":
        return Degradation(perspective=rng.uniform(0.03, 0.07), rotation_deg=rng.uniform(-3, 3))
    raise ValueError(f"unknown degradation level {level!r}")


def degrade(image: Image.Image, spec: Degradation, seed: int | random.Random = 0) -> Image.Image:
    """Place the document on a table and apply `spec`; deterministic for a given seed."""
    import cv2

    rng = seed if isinstance(seed, random.Random) else random.Random(seed)  # noqa: S311
    nrng = np.random.default_rng(rng.getrandbits(32))
    doc = np.asarray(image.convert("RGB"), dtype=np.uint8)
    h, w = doc.shape[:2]
    pad = round(spec.margin * w)
    table_color = np.array([rng.randint(40, 120), rng.randint(35, 100), rng.randint(30, 90)])
    H, W = h + 2 * pad, w + 2 * pad
    canvas = np.empty((H, W, 3), np.uint8)
    canvas[:] = table_color
    canvas = np.clip(canvas + nrng.normal(0, 6, canvas.shape), 0, 255).astype(np.uint8)

    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    dst = src + pad
    if spec.perspective:
        jitter = nrng.uniform(-1, 1, (4, 2)) * spec.perspective * np.array([w, h])
        dst = dst + jitter.astype(np.float32)
    if spec.rotation_deg:
        center = np.array([W / 2, H / 2], np.float32)
        a = math.radians(spec.rotation_deg)
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], np.float32)
        dst = (dst - center) @ rot.T + center
    if spec.rotation_deg or spec.perspective:
        # Grow the canvas so that no corner falls outside the photo.
        lo = np.minimum(dst.min(axis=0), 0)
        hi = np.maximum(dst.max(axis=0), [W, H])
        dst = dst - lo
        W, H = math.ceil(hi[0] - lo[0]), math.ceil(hi[1] - lo[1])
        canvas = np.empty((H, W, 3), np.uint8)
        canvas[:] = table_color
        canvas = np.clip(canvas + nrng.normal(0, 6, canvas.shape), 0, 255).astype(np.uint8)
    matrix = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    warped = cv2.warpPerspective(doc, matrix, (W, H), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), matrix, (W, H))
    out: np.ndarray = np.where(mask[..., None] > 127, warped, canvas).astype(np.float32)

    if spec.brightness != 1.0:
        out = out * spec.brightness * np.array([1.0, 0.95, 0.85], np.float32)
    if spec.glare:
        cx, cy = rng.uniform(0.2, 0.8) * W, rng.uniform(0.2, 0.8) * H
        r = rng.uniform(0.12, 0.25) * max(W, H)
        yy, xx = np.mgrid[0:H, 0:W]
        blob = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)))
        out = out + (255 - out) * (spec.glare * blob)[..., None]
    if spec.blur_sigma:
        out = cv2.GaussianBlur(out, (0, 0), spec.blur_sigma)
    if spec.noise_sigma:
        out = out + nrng.normal(0, spec.noise_sigma, out.shape)
    result = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")
    if spec.jpeg_quality is not None:
        buf = io.BytesIO()
        result.save(buf, "JPEG", quality=spec.jpeg_quality)
        buf.seek(0)
        result = Image.open(buf).convert("RGB")
    return result


def photograph(image: Image.Image, level: str, seed: int) -> tuple[Image.Image, Degradation]:
    """The document as captured at a benchmark level (parameters drawn from `seed`)."""
    rng = random.Random(seed)  # noqa: S311 - synthetic test data
    spec = sample_degradation(level, rng)
    return degrade(image, spec, rng), spec
