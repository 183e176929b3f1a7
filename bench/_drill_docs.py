"""The scale drill's documents: distinct synthetic passports, made once on all cores and kept
in .cache/scale_drill (the repository's ignored cache) for the next run."""

from __future__ import annotations

import io
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "scale_drill"
SEED, BATCH = 20, 25  # the passports' seed; passports per generator process task


def _passport_batch(args: tuple[int, int, int]) -> list[bytes]:
    """Passports [start, stop) of the generator seeded `seed`, as JPEG."""
    from dataclasses import replace

    from idproof.testing import DocumentGenerator

    seed, start, stop = args
    gen = DocumentGenerator(seed=seed * 100_003 + start)  # one stream per batch
    out = []
    for n in range(start, stop):
        # the number from the index: distinct across batches whatever the random streams
        ident = replace(gen.identity("passport"), document_number=f"DR{n:07d}")
        buf = io.BytesIO()
        gen.passport(ident).front.convert("RGB").save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def documents(count: int, cache: Path | None = CACHE) -> list[bytes]:
    """Distinct synthetic passports as JPEG (distinct numbers: no duplicate-document flag),
    generated once on all cores and kept in `cache` (.cache/scale_drill) for the next run."""
    folder = cache / f"seed{SEED}" if cache is not None else None
    files = [folder / f"{i:05d}.jpg" for i in range(count)] if folder is not None else []
    if folder is not None and all(f.is_file() for f in files):
        return [f.read_bytes() for f in files]
    batches = [(SEED, i, min(i + BATCH, count)) for i in range(0, count, BATCH)]
    with ProcessPoolExecutor(min(len(batches), os.cpu_count() or 1) or 1) as pool:
        images = [img for batch in pool.map(_passport_batch, batches) for img in batch]
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        for f, img in zip(files, images, strict=True):
            f.write_bytes(img)
    return images
