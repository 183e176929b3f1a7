"""1:N faces at 1,000,000: an approximate index (faiss IVF-Flat) against the numpy scan.

The shipped `signals.faces.FaceIndex` scans every row (exact). This measures whether an
ANN index is faster at 1M faces, and what it costs in recall of near-duplicates (a probe is
an enrolled face plus noise, as a second selfie of an enrolled subject). Both run on the
same matrix, side by side, one thread each. faiss-cpu is optional (`pip install
'idproof[ann-bench]'`); without it only the scan is measured.

Synthetic unit vectors (random 128-d): no cluster structure, the worst case for an
inverted-file index's partitioning; real dlib embeddings are clustered. Run:
  .venv/bin/python bench/faces_ann.py [--n 1000000] [--nlist 1024] [--nprobe 8,16,32]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from idproof.signals.faces import DEFAULT_DISTANCE, FaceIndex  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs), q)) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--nprobe", default="8,16,32")
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--noise", type=float, default=0.02)
    args = ap.parse_args()
    rng = np.random.default_rng(17)
    n = args.n
    m = rng.standard_normal((n, 128), dtype=np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    which = rng.integers(0, n, args.probes)
    probes = (m[which] + rng.normal(0, args.noise, (args.probes, 128))).astype(np.float32)
    print(f"== 1:N faces, {n:,} enrolled, {args.probes} near-duplicate probes "
          f"(noise {args.noise}), threshold {DEFAULT_DISTANCE}, one thread")
    index = FaceIndex()
    index.add_many([f"f{i}" for i in range(n)], [f"s{i}" for i in range(n)],
                   ["approved"] * n, m)
    index.search(probes[0])
    scan, found = [], 0
    for p, w in zip(probes, which, strict=True):
        t = time.perf_counter()
        hits = index.search(p)
        scan.append(time.perf_counter() - t)
        found += bool(hits) and hits[0].face_id == f"f{w}"
    print(f"   numpy scan (shipped): p50 {pct(scan, 50):.1f} ms, p95 {pct(scan, 95):.1f} ms, "
          f"recall {found / len(probes):.1%}")
    try:
        import faiss  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        print("   faiss-cpu is not installed: no ANN figure")
        return
    faiss.omp_set_num_threads(1)
    t0 = time.perf_counter()
    quantizer = faiss.IndexFlatL2(128)
    ivf = faiss.IndexIVFFlat(quantizer, 128, args.nlist)
    train = m[rng.choice(n, min(n, 40 * args.nlist), replace=False)]
    ivf.train(train)
    ivf.add(m)
    build = time.perf_counter() - t0
    print(f"   faiss {faiss.__version__} IVF-Flat nlist {args.nlist}: built in {build:.1f} s "
          f"(train on {len(train):,}, add {n:,})")
    limit = DEFAULT_DISTANCE ** 2
    for nprobe in (int(x) for x in args.nprobe.split(",")):
        ivf.nprobe = nprobe
        times, found = [], 0
        for p, w in zip(probes, which, strict=True):
            t = time.perf_counter()
            d2, ids = ivf.search(p.reshape(1, -1), 10)
            times.append(time.perf_counter() - t)
            found += bool(ids[0][0] == w and d2[0][0] <= limit)
        ratio = pct(times, 50) / pct(scan, 50)
        print(f"   faiss nprobe {nprobe:>3}: p50 {pct(times, 50):.2f} ms, p95 "
              f"{pct(times, 95):.2f} ms, recall {found / len(probes):.1%} "
              f"(p50 ratio to the scan {ratio:.3f})")


if __name__ == "__main__":
    main()
