"""Audit appends under concurrent writers: the queue plus the sequencer, end to end.

    python bench/audit_sequencer.py [--writers 4] [--seconds 3] [--batch 1]

`--writers` OS processes record events through AuditService (as requests do: one transaction
per event, or `--batch` events per transaction) while one Sequencer integrates them into the
Merkle tree in this process, on SQLite and on PostgreSQL (IDPROOF_BENCH_DATABASE_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/test: a fresh database is created beside it and
dropped at the end). Prints events/s recorded and integrated (the time until the last event is
in the tree), the p50/p99 of one record call, and checks the result: a dense tree, every
writer's events in its own order, nothing left pending, `audit verify` OK.

Goals (issue 17): >= 10,000 appends/s on SQLite and >= 5,000/s on PostgreSQL, p99 <= 3x p50.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from typing import Any

from sqlalchemy import func, select

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)

from audit import postgres_db, sqlite_db  # noqa: E402

from idproof.audit.events import AuditEvent  # noqa: E402
from idproof.audit.log import AuditLog  # noqa: E402
from idproof.audit.models import AuditEventRow  # noqa: E402
from idproof.audit.sequencer import Sequencer  # noqa: E402
from idproof.audit.service import AuditService  # noqa: E402
from idproof.db.engine import Database  # noqa: E402
from idproof.db.migrate import upgrade  # noqa: E402

SEAL = b"\x01" * 32


def writer(url: str, worker: int, seconds: float, batch: int, start: Any, out: Any) -> None:
    db = Database(url)
    audit = AuditService(db, inline=False)
    start.wait(60)
    lat: list[float] = []
    n = 0
    deadline = time.perf_counter() + seconds
    perf = time.perf_counter
    while perf() < deadline:
        t0 = perf()
        if batch == 1:
            audit.record(AuditEvent(action="bench.append", actor_type="client",
                                    actor_id=f"w{worker}", tenant_id="ten_bench",
                                    target_type="token", target_id=f"t{n}",
                                    ip="127.0.0.1", details={"i": n}))
        else:
            audit.record_many(AuditEvent(action="bench.append", actor_type="client",
                                         actor_id=f"w{worker}", details={"i": n + j})
                              for j in range(batch))
        lat.append(perf() - t0)
        n += batch
    db.dispose()
    out.put((worker, n, lat))


def run(label: str, url: str, writers: int, seconds: float, batch: int) -> None:
    upgrade(url)
    db = Database(url)
    audit = AuditService(db, inline=False)
    log = AuditLog(db, SEAL, origin="bench.example/idproof/audit", audit=audit,
                   every_events=1000, every_seconds=0)
    audit.appended.subscribe(log.after_append)
    log.ensure_key()
    audit.integrate_all()  # the key's own event
    before = log.size()
    seq = Sequencer(audit, db)
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=writer, args=(url, w, seconds, batch, start, out))
             for w in range(writers)]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let them import
    seq.start()
    t0 = time.perf_counter()
    start.set()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    recorded_at = seconds  # each writer records for this long
    for p in procs:
        p.join(30)
    while audit.pending_count():
        time.sleep(0.005)
    integrated_at = time.perf_counter() - t0
    seq.stop()
    total = sum(n for _, n, _ in results)
    lat = sorted(x for _, _, ls in results for x in ls)
    p50, p99 = lat[len(lat) // 2] * 1e3, lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3
    with db.read() as s:
        count, low, high = s.execute(select(func.count(), func.min(AuditEventRow.idx),
                                            func.max(AuditEventRow.idx))).one()
        order_ok = True
        for w, n, _ in results:
            got = [d["i"] for (d,) in s.execute(
                select(AuditEventRow.details).where(AuditEventRow.actor_id == f"w{w}")
                .order_by(AuditEventRow.idx))]
            order_ok &= got == list(range(n))
    dense = (low, high) == (0, count - 1) and count == before + total
    report = log.verify()
    print(f"{label:<10} {writers} writers x {batch}/tx: {total / recorded_at:>9,.0f} recorded/s, "
          f"{total / integrated_at:>9,.0f} integrated/s ({total:,} events; last in the tree "
          f"{(integrated_at - recorded_at) * 1e3:.0f} ms after the last record); record p50 "
          f"{p50:.2f} ms p99 {p99:.2f} ms (p99/p50 {p99 / p50:.1f}); dense "
          f"{'yes' if dense else 'NO'}, per-writer order {'yes' if order_ok else 'NO'}, "
          f"verify {'OK' if report.ok else 'FAILED'}", flush=True)
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=1, help="events per writer transaction")
    args = parser.parse_args()
    with sqlite_db() as url:
        run("sqlite", url, args.writers, args.seconds, args.batch)
    with postgres_db() as url:
        if url is not None:
            run("postgresql", url, args.writers, args.seconds, args.batch)


if __name__ == "__main__":
    main()
