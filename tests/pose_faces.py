"""Camera-like frames of real faces for the pose probe tests: frontal, turned, off-centre.

`obama.jpg` looks at the camera; in `obama2.jpg` the head is turned to the subject's right
(the nose towards image-left), and its mirror image is a head turned to the left. The face
boxes (dlib's, at full resolution) are fixed here so that the framing of a test frame does
not depend on the detector under test.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

from tests.biometrics_data import load

BOXES = {"obama.jpg": (366, 136, 624, 394), "obama2.jpg": (164, 302, 474, 611)}


def scene(name: str, *, mirror: bool = False, size: tuple[int, int] = (480, 360),
          face_share: float = 0.3, offset: tuple[float, float] = (0.0, 0.0),
          folder: Path | None = None) -> Image.Image:
    """The photo cropped as a selfie camera would frame it: the face box `face_share` of the
    frame's width, its centre at the frame's centre moved by `offset` (shares of the frame);
    outside the photo is black."""
    img = load(name, folder)
    left, top, right, bottom = BOXES[name]
    w = (right - left) / face_share
    h = w * size[1] / size[0]
    cx = (left + right) / 2 - offset[0] * w
    cy = (top + bottom) / 2 - offset[1] * h
    box = (round(cx - w / 2), round(cy - h / 2), round(cx + w / 2), round(cy + h / 2))
    out = img.crop(box).resize(size, Image.Resampling.LANCZOS)
    return ImageOps.mirror(out) if mirror else out
