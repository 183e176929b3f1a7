"""Write a Y4M clip (YUV 4:2:0) from still images, for Chromium's fake camera."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageOps


def fit(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The whole image scaled into `size`, centred, with dark bars (no face cut off)."""
    return ImageOps.pad(image.convert("RGB"), size, method=Image.Resampling.LANCZOS,
                         color=(40, 40, 40))


def write_y4m(path: Path, stills: Sequence[Image.Image], *, size: tuple[int, int] = (640, 480),
              fps: int = 15, frames_each: int = 15) -> Path:
    """Each still held for `frames_each` frames; Chromium loops the file."""
    w, h = size
    with path.open("wb") as fh:
        # C420jpeg: full-range BT.601, which is what PIL's YCbCr conversion produces.
        fh.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for still in stills:
            y, cb, cr = fit(still, size).convert("YCbCr").split()
            half = (w // 2, h // 2)
            frame = (b"FRAME\n" + y.tobytes()
                     + cb.resize(half, Image.Resampling.BILINEAR).tobytes()
                     + cr.resize(half, Image.Resampling.BILINEAR).tobytes())
            for _ in range(frames_each):
                fh.write(frame)
    return path
