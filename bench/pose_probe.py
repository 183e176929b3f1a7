"""Pose probe benchmark: milliseconds per probe (JPEG check and decode, face detection,
68 landmarks, pose) on one core, at the size the hosted pages send (480 px, JPEG 0.7), and
what each fixture frame is judged to be.

Run: .venv/bin/python bench/pose_probe.py [--runs 50]
The photos come from PyPI packages (tests/biometrics_data.py fetches them into the cache).
"""

from __future__ import annotations

import os

# One core: pin BLAS/OpenMP pools before numpy loads, and the process to one CPU.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from idproof.verification.biometrics.engines import DlibFaceEngine  # noqa: E402
from idproof.verification.biometrics.liveness import LivenessPolicy  # noqa: E402
from idproof.verification.biometrics.probe import probe_upload  # noqa: E402
from idproof.verification.biometrics.quality import QualityPolicy  # noqa: E402
from tests.biometrics_data import fetch  # noqa: E402
from tests.pose_faces import scene  # noqa: E402


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=70)
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    folder = fetch()
    frames = {
        "frontal, centred": (_jpeg(scene("obama.jpg", folder=folder)), "look_straight"),
        "turned right": (_jpeg(scene("obama2.jpg", folder=folder)), "turn_right"),
        "turned left (mirrored)": (_jpeg(scene("obama2.jpg", mirror=True, folder=folder)),
                                   "turn_left"),
        "frontal, beside the oval": (_jpeg(scene("obama.jpg", offset=(0.3, 0), folder=folder)),
                                     "look_straight"),
        "no face": (_jpeg(Image.new("RGB", (480, 360), (120, 130, 140))), "look_straight"),
    }
    engine = DlibFaceEngine()
    engine.warm_up()
    kw = {"liveness": LivenessPolicy(), "quality": QualityPolicy()}
    base = probe_upload(engine, frames["frontal, centred"][0], action="look_straight",
                        baseline=None, **kw).pose
    assert base is not None
    baseline = (base.yaw, base.pitch, base.ear)
    print(f"pose probe, one core, {args.runs} runs per frame, 480x360 JPEG q70")
    print(f"{'frame':28} {'bytes':>6} {'p50 ms':>7} {'p95 ms':>7}  answer")
    all_ms: list[float] = []
    for name, (data, action) in frames.items():
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            out = probe_upload(engine, data, action=action,
                               baseline=None if action == "look_straight" else baseline, **kw)
            times.append((time.perf_counter() - t) * 1000)
        all_ms += times
        answer = {k: v for k, v in out.to_json().items() if k in {"problem", "state", "reached"}}
        print(f"{name:28} {len(data):6d} {np.percentile(times, 50):7.1f} "
              f"{np.percentile(times, 95):7.1f}  {action}: {json.dumps(answer)}")
    print(f"all frames: p50 {np.percentile(all_ms, 50):.1f} ms, p95 "
          f"{np.percentile(all_ms, 95):.1f} ms; at 4 probes a second one person's camera "
          f"costs about {4 * np.percentile(all_ms, 50) / 10:.0f} % of a core")


if __name__ == "__main__":
    main()
