"""Trains the fixed-pitch MRZ glyph classifier (idproof.verification.document.glyphs) on
synthetic OCR-B documents photographed at every degradation level, cut into lines and cells
by the reader's own code, and writes its weights into the package.

    .venv/bin/python tools/train_mrz_glyphs.py --docs 1500

Needs the OCR-B font (Debian fonts-ocr-b). Seeds start at 100000, apart from the seeds the
tests and bench/documents.py use, so the benchmark never reads a training document.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import numpy as np

from idproof.testing import (
    DEGRADATION_LEVELS,
    DocumentGenerator,
    mrz_font_path,
    photograph,
)
from idproof.verification.document.glyphs import (
    ALPHABET,
    CELL_H,
    CELL_W,
    MODEL_PATH,
    cells,
    ink_extent,
)
from idproof.verification.document.mrz_zone import find_mrz_regions

_LEVEL_WEIGHTS = {"clean": 3, "rotation_noise": 3}


def collect(n_docs: int, seed: int, only: str | None = None
            ) -> tuple[np.ndarray, np.ndarray, list[float]]:
    gen = DocumentGenerator(seed)
    rng = random.Random(seed)  # noqa: S311 - synthetic training data, not a secret
    levels = [lv for lv in DEGRADATION_LEVELS for _ in range(_LEVEL_WEIGHTS.get(lv, 1))]
    xs: list[np.ndarray] = []
    ys: list[int] = []
    pitch: list[float] = []
    for i in range(n_docs):
        doc = gen.passport() if i % 2 == 0 else gen.id_card()
        level = only or rng.choice(levels)
        image, _spec = photograph(doc.mrz_image, level, seed=seed * 7 + i)
        regions = find_mrz_regions(image)
        if not regions:
            continue
        truth = doc.mrz_lines
        lines = list(regions[0].lines)[-len(truth):]
        if len(lines) != len(truth):
            continue
        for img, text in zip(lines, truth, strict=True):
            extent = ink_extent(img)
            if extent is not None:
                pitch.append((extent[1] - extent[0]) / (len(text) - 0.28) / img.shape[0])
            xs.append(cells(img, len(text)))
            ys.extend(ALPHABET.index(c) for c in text)
    return np.concatenate(xs), np.array(ys), pitch


def train(x: np.ndarray, y: np.ndarray, *, hidden: int, epochs: int, seed: int
          ) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = x.reshape(len(x), -1)
    mean = x.mean(axis=0)
    x = x - mean
    n_in, n_out = x.shape[1], len(ALPHABET)
    params = {"w1": rng.normal(0, np.sqrt(2 / n_in), (n_in, hidden)).astype(np.float32),
              "b1": np.zeros(hidden, np.float32),
              "w2": rng.normal(0, np.sqrt(2 / hidden), (hidden, n_out)).astype(np.float32),
              "b2": np.zeros(n_out, np.float32)}
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    lr, b1, b2, eps, step, batch = 2e-3, 0.9, 0.999, 1e-8, 0, 256
    # Rare classes (the letters of a check-digit-heavy zone are mostly digits and "<")
    # weigh more, so that every glyph is learnt.
    counts = np.bincount(y, minlength=n_out).astype(np.float32)
    class_w = (counts.sum() / np.maximum(counts, 1) / n_out) ** 0.5
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        loss_sum = 0.0
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            xb, yb = x[idx], y[idx]
            # Light augmentation: ink noise and contrast, as photos vary.
            # and a cell cut a pixel off where the pitch estimate drifts.
            shift = rng.integers(-1, 2)
            if shift:
                xb = np.roll(xb.reshape(len(xb), CELL_H, CELL_W), shift, axis=2).reshape(
                    len(xb), -1)
            xb = xb * rng.uniform(0.8, 1.2, (len(xb), 1)) + rng.normal(0, 0.05, xb.shape)
            h_pre = xb @ params["w1"] + params["b1"]
            h = np.maximum(h_pre, 0)
            z = h @ params["w2"] + params["b2"]
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            w = class_w[yb][:, None]
            loss_sum += float(-(np.log(p[np.arange(len(yb)), yb] + 1e-9) * w[:, 0]).sum())
            dz = p
            dz[np.arange(len(yb)), yb] -= 1
            dz *= w / len(yb)
            grads = {"w2": h.T @ dz, "b2": dz.sum(axis=0)}
            dh = dz @ params["w2"].T
            dh[h_pre <= 0] = 0
            grads["w1"] = xb.T @ dh
            grads["b1"] = dh.sum(axis=0)
            step += 1
            for k in params:
                m[k] = b1 * m[k] + (1 - b1) * grads[k]
                v[k] = b2 * v[k] + (1 - b2) * grads[k] ** 2
                mh = m[k] / (1 - b1 ** step)
                vh = v[k] / (1 - b2 ** step)
                params[k] -= (lr * mh / (np.sqrt(vh) + eps)).astype(np.float32)
        lr *= 0.8
        print(f"epoch {epoch + 1}: loss {loss_sum / len(x):.4f}", flush=True)
    params["mean"] = mean.astype(np.float32)
    return params


def accuracy(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    xx = x.reshape(len(x), -1) - params["mean"]
    h = np.maximum(xx @ params["w1"] + params["b1"], 0)
    return float(((h @ params["w2"] + params["b2"]).argmax(axis=1) == y).mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, default=1500)
    ap.add_argument("--hidden", type=int, default=192)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=100_000)
    args = ap.parse_args(argv)
    if mrz_font_path() is None or "ocr" not in (mrz_font_path() or "").lower():
        print("the OCR-B font is needed (Debian fonts-ocr-b)", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    x, y, pitch = collect(args.docs, args.seed)
    xv, yv, _ = collect(max(50, args.docs // 10), args.seed + 50_000)
    print(f"{len(x)} training cells, {len(xv)} validation cells "
          f"({time.perf_counter() - t0:.0f} s); pitch/height median {np.median(pitch):.4f}")
    params = train(x, y, hidden=args.hidden, epochs=args.epochs, seed=args.seed)
    print(f"cell accuracy: training {accuracy(params, x, y):.4f}, "
          f"validation {accuracy(params, xv, yv):.4f}")
    for level in DEGRADATION_LEVELS:
        xl, yl, _ = collect(20, args.seed + 90_000, only=level)
        print(f"  {level:<15} {accuracy(params, xl, yl):.4f} ({len(xl)} cells)")
    MODEL_PATH.parent.mkdir(exist_ok=True)
    np.savez_compressed(MODEL_PATH, **{k: v.astype(np.float16) if k != "mean" else v
                                       for k, v in params.items()})
    print(f"wrote {MODEL_PATH} ({MODEL_PATH.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
