"""Screening: recall and precision on the held-out labelled set at the default threshold,
search latency against a generated 1,000,000-entry list (target p95 < 50 ms), import time."""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from idproof.screening.matching import DEFAULT_THRESHOLD, Query, ScreeningIndex
from tests.screening_eval import (
    EVAL_SEED,
    _variant,
    build,
    evaluate,
    make_person,
)


def quality(threshold: float) -> None:
    entries, queries = build(EVAL_SEED, size=5000, positives=1000, negatives=1000)
    figures = evaluate(ScreeningIndex(entries), queries, threshold)
    print(f"held-out set (seed {EVAL_SEED}, never tuned on): {len(entries)} entries, "
          f"{figures.positives} positive and {len(queries) - figures.positives} negative queries")
    print(f"  threshold {threshold:.2f}: recall {figures.recall:.2%} ({figures.found}/"
          f"{figures.positives}), precision {figures.precision:.2%} ({figures.true_hits}/"
          f"{figures.hits} hits)  [targets: recall >= 98%, precision >= 90%]")
    kinds: dict[str, int] = {}
    for q in figures.misses:
        kinds[q.kind] = kinds.get(q.kind, 0) + 1
    print(f"  misses by kind: {kinds or 'none'}")


def latency(size: int, queries: int) -> None:
    rng = random.Random(99)
    t0 = time.perf_counter()
    people = [make_person(rng, f"B{i:07d}", source="bench") for i in range(size)]
    t1 = time.perf_counter()
    index = ScreeningIndex(p.entry for p in people)
    t2 = time.perf_counter()
    print(f"{size:,} entries ({index.name_count:,} names): generated in {t1 - t0:.1f}s, "
          f"indexed in {t2 - t1:.1f}s")
    qs = []
    for _ in range(queries):
        if rng.random() < 0.5:
            p = rng.choice(people)
            qs.append(Query(_variant(rng, p)[0], p.dob if rng.random() < 0.7 else None))
        else:
            o = make_person(rng, "x")
            qs.append(Query(f"{o.first} {o.last}", o.dob))
    for q in qs[:20]:  # warm-up
        index.search(q, DEFAULT_THRESHOLD)
    times = []
    for q in qs:
        s = time.perf_counter()
        index.search(q, DEFAULT_THRESHOLD)
        times.append((time.perf_counter() - s) * 1000)
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"  search over {queries} queries: median {statistics.median(times):.1f} ms, "
          f"p95 {p95:.1f} ms, max {times[-1]:.1f} ms  [target p95 < 50 ms]")


def import_time(size: int) -> None:
    from idproof.bootstrap import prepare
    from idproof.config import Settings

    rng = random.Random(5)
    lines = []
    for i in range(size):
        e = make_person(rng, f"I{i:07d}").entry
        lines.append(json.dumps({"id": e.entry_id, "schema": "Person", "properties": {
            "name": [e.names[0]], "alias": list(e.names[1:]), "birthDate": list(e.birth_dates),
            "nationality": list(e.countries), "topics": ["sanction"]}}))
    raw = ("\n".join(lines) + "\n").encode()
    with tempfile.TemporaryDirectory() as tmp:
        import base64
        settings = Settings(data_dir=Path(tmp) / "data",
                            secret_key=base64.b64encode(b"b" * 32).decode())
        c = prepare(settings, demo_tenant=False)
        try:
            r1 = c.screening.import_file("opensanctions", io.BytesIO(raw))
            # the next version: 1% changed, 1% removed, 1% added
            edited = lines[size // 100:]
            edited[:size // 100] = [ln.replace('"sanction"', '"role.pep"')
                                    for ln in edited[:size // 100]]
            edited += [ln.replace('"I', '"N') for ln in lines[: size // 100]]
            r2 = c.screening.import_file("opensanctions",
                                         io.BytesIO(("\n".join(edited) + "\n").encode()))
        finally:
            c.close()
    print(f"import of {size:,} FtM entries into SQLite: {r1.seconds:.1f}s "
          f"({len(raw) / 1e6:.1f} MB, parse + write + activate + index); "
          f"re-import {r2.seconds:.1f}s, diff +{r2.added} -{r2.removed} ~{r2.changed}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--import-size", type=int, default=100_000)
    args = ap.parse_args()
    quality(DEFAULT_THRESHOLD)
    import_time(args.import_size)
    latency(args.size, args.queries)


if __name__ == "__main__":
    main()
