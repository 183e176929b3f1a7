"""Upload sanitizing under hostile images: outcome, time and peak memory per image and batch.

Run: .venv/bin/python bench/uploads.py
Each measurement runs in a fresh child process, so its peak RSS (VmHWM; ru_maxrss would carry
the parent's high-water mark over fork and exec) belongs to that image alone; Pillow allocates
pixels outside Python's heap, which tracemalloc would not see. Linux only (/proc).
"Ratio check off" re-runs the batch with the pixels-per-byte limit disabled (the behaviour
before it existed), for comparison.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from idproof.security.uploads import MAX_PIXELS_PER_BYTE, UploadRejected, sanitize_image


def _save(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _noise_jpeg(w: int, h: int) -> bytes:
    return _save(Image.effect_noise((w, h), 50).convert("RGB"), "JPEG", quality=85)


CASES: dict[str, Callable[[], bytes]] = {
    "png_1bit_39.7mpx": lambda: _save(Image.new("1", (6300, 6300), 0), "PNG", optimize=True),
    "png_gray_81mpx": lambda: _save(Image.new("L", (9000, 9000), 0), "PNG", optimize=True),
    "png_rgb_39.7mpx": lambda: _save(Image.new("RGB", (6300, 6300)), "PNG", optimize=True),
    "webp_lossless_36mpx": lambda: _save(Image.new("RGB", (6000, 6000)), "WEBP", lossless=True),
    "jpeg_flat_39.7mpx": lambda: _save(Image.new("RGB", (6300, 6300), (90, 90, 90)), "JPEG"),
    "jpeg_photo_12mpx (legit)": lambda: _noise_jpeg(4000, 3000),
}
HOSTILE = [name for name in CASES if "legit" not in name]


def _rss_mb() -> float:
    """This process's peak resident set so far, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(paths: list[str], ratio: int) -> None:
    blobs = [Path(p).read_bytes() for p in paths]
    base = _rss_mb()
    outcomes = []
    started = time.perf_counter()
    for data in blobs:
        try:
            out = sanitize_image(data, max_pixels_per_byte=ratio)
            outcomes.append(f"accepted {out.width}x{out.height}")
        except UploadRejected as exc:
            outcomes.append(f"{exc.status} {exc.code}")
    ms = (time.perf_counter() - started) * 1000
    print(json.dumps({"base_mb": base, "peak_mb": _rss_mb(), "ms": ms, "outcomes": outcomes}))


def measure(paths: list[Path], ratio: int) -> dict[str, object]:
    out = subprocess.run([sys.executable, __file__, "--child", str(ratio),
                          *[str(p) for p in paths]], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child is not None:
        child(rest, args.child)
        return
    with tempfile.TemporaryDirectory(prefix="idproof-bench-uploads-") as tmp:
        files: dict[str, Path] = {}
        for name, make in CASES.items():
            path = Path(tmp) / f"{len(files)}.img"
            path.write_bytes(make())
            files[name] = path
        print(f"# upload sanitizing, hostile images (ratio limit {MAX_PIXELS_PER_BYTE} px/byte);"
              " peak RSS of a fresh process above its baseline after reading the input")
        print(f"{'image':28} {'bytes':>10} {'outcome':32} {'ms':>8} {'peak MB':>8}")
        for name, path in files.items():
            r = measure([path], MAX_PIXELS_PER_BYTE)
            print(f"{name:28} {path.stat().st_size:>10} {r['outcomes'][0]:32} "  # type: ignore[index]
                  f"{r['ms']:>8.0f} {r['peak_mb'] - r['base_mb']:>8.0f}")  # type: ignore[operator]
        batch = [files[n] for n in HOSTILE] * 2
        for label, ratio in (("ratio check on", MAX_PIXELS_PER_BYTE), ("ratio check off", 10**9)):
            r = measure(batch, ratio)
            accepted = sum(o.startswith("accepted") for o in r["outcomes"])  # type: ignore[attr-defined]
            print(f"batch of {len(batch)} hostile images, {label}: {accepted} accepted, "
                  f"{r['ms']:.0f} ms, peak {r['peak_mb'] - r['base_mb']:.0f} MB "  # type: ignore[operator]
                  "above baseline")


if __name__ == "__main__":
    main()
