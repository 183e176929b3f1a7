"""Audit appends under concurrent writers: the queue plus the sequencer, end to end.

    python bench/audit_sequencer.py [--writers 4] [--concurrency 8] [--mode async]
                                    [--seconds 3] [--batch 1] [--databases sqlite,postgresql]

`--writers` OS processes record events as a server's requests do, each with `--concurrency`
requests in flight: coroutines awaiting `AuditService.record_async` on one event loop (`async`,
the token grant's path) or threads calling `record` (`thread`, a synchronous route's path), one
event per call (or `--batch` events per transaction through `record_many`). A call returns once
its event is committed to the queue (durable). One `Sequencer` integrates the queue into the
Merkle tree meanwhile, in this process. On SQLite and on PostgreSQL (IDPROOF_BENCH_DATABASE_URL,
else the test services' IDPROOF_TEST_DATABASE_URL, else postgresql+psycopg://postgres@127.0.0.1
:5432/test: a fresh database is created beside it and dropped at the end).

Prints appends/s (events committed to the queue per second, all writers together) with its
ratio to the issue 17 target (>= 10,000/s on SQLite, >= 5,000/s on PostgreSQL), the p50/p99 of
one append call and p99/p50 (target <= 3), integrated/s and how long after the last append the
tree had everything, and the CPU spent per append (writers and sequencer; on a machine shared
with other work the rate is what this bench was given, the CPU per append what it costs), and
checks the result: a dense tree, every writer's events in its own order, nothing pending,
`audit verify` OK.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import sys
import threading
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
from idproof.web.heap import freeze_startup_heap  # noqa: E402

SEAL = b"\x01" * 32
TARGETS = {"sqlite": 10_000.0, "postgresql": 5_000.0}  # appends/s, issue 17
P99_OVER_P50 = 3.0


def _event(actor: str, i: int) -> AuditEvent:
    """A token grant's event, as the grant path records it."""
    return AuditEvent(action="bench.append", actor_type="client", actor_id=actor,
                      tenant_id="ten_bench", target_type="token", target_id=f"t{i}",
                      ip="127.0.0.1", details={"i": i, "scopes": ["identity.verify"]})


class _Stream:
    """One request stream of a writer: its own sequence numbers, in the order it wrote them."""

    def __init__(self, actor: str, batch: int) -> None:
        self.actor, self.batch, self.n = actor, batch, 0
        self.lat: list[float] = []

    def events(self) -> list[AuditEvent]:
        out = [_event(self.actor, self.n + j) for j in range(self.batch)]
        self.n += self.batch
        return out


def _thread_streams(audit: AuditService, streams: list[_Stream], deadline: float) -> None:
    def loop(st: _Stream) -> None:
        perf = time.perf_counter
        while perf() < deadline:
            evs = st.events()
            t0 = perf()
            if len(evs) == 1:
                audit.record(evs[0])
            else:
                audit.record_many(evs)
            st.lat.append(perf() - t0)

    threads = [threading.Thread(target=loop, args=(st,)) for st in streams]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


async def _async_streams(audit: AuditService, streams: list[_Stream], deadline: float) -> None:
    async def loop(st: _Stream) -> None:
        perf = time.perf_counter
        while perf() < deadline:
            evs = st.events()
            t0 = perf()
            if len(evs) == 1:
                await audit.record_async(evs[0])
            else:  # several events of one request: one transaction, in a thread
                await asyncio.to_thread(audit.record_many, evs)
            st.lat.append(perf() - t0)

    await asyncio.gather(*(loop(st) for st in streams))


def writer(url: str, worker: int, args: dict[str, Any], ready: Any, start: Any,
           out: Any) -> None:
    db = Database(url)
    audit = AuditService(db, inline=False)
    streams = [_Stream(f"w{worker}s{k}", args["batch"]) for k in range(args["concurrency"])]
    audit.record(_event(f"w{worker}warm", 0))  # connections open, statements compiled
    freeze_startup_heap()  # as every `idproof serve` worker does once it is up
    ready.put(worker)
    start.wait(120)
    cpu0 = _cpu()
    deadline = time.perf_counter() + args["seconds"]
    if args["mode"] == "thread":
        _thread_streams(audit, streams, deadline)
    else:
        asyncio.run(_async_streams(audit, streams, deadline))
    cpu = _cpu() - cpu0
    db.dispose()
    out.put((worker, {st.actor: st.n for st in streams}, [x for st in streams for x in st.lat],
             cpu))


def _cpu() -> float:
    """This process's CPU seconds, all threads (user + system)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class _SizeSampler:
    """The tree size every 5 ms, from a thread of its own, with the time it was read."""

    def __init__(self, log: AuditLog) -> None:
        self._log = log
        self.samples: list[tuple[float, int]] = []
        self.cpu = 0.0  # its own CPU seconds, left out of the sequencer's
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        cpu0 = time.thread_time()
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), self._log.size()))
            self._stop.wait(0.005)
        self.cpu = time.thread_time() - cpu0

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.perf_counter(), self._log.size()))

    def size_at(self, when: float) -> int:
        return max((n for t, n in self.samples if t <= when), default=0)

    def time_reaching(self, size: int) -> float:
        return min(t for t, n in self.samples if n >= size)


def _check(db: Database, counts: dict[str, int], before: int, total: int) -> tuple[bool, bool]:
    """(dense and complete, every stream's events in its own order)."""
    with db.read() as s:
        count, low, high = s.execute(select(func.count(), func.min(AuditEventRow.idx),
                                            func.max(AuditEventRow.idx))).one()
        rows = s.execute(select(AuditEventRow.actor_id, AuditEventRow.details)
                         .where(AuditEventRow.action == "bench.append")
                         .order_by(AuditEventRow.idx)).all()
    seen: dict[str, list[int]] = {}
    for actor, details in rows:
        seen.setdefault(actor, []).append(details["i"])
    order_ok = all(seen.get(actor) == list(range(n)) for actor, n in counts.items())
    return (low, high) == (0, count - 1) and count == before + total, order_ok


def _measure(url: str, db: Database, audit: AuditService, log: AuditLog,
             args: argparse.Namespace) -> dict[str, Any]:
    """Start the writers, let them append for `args.seconds` while a sequencer integrates,
    wait until the queue is empty; what was appended, how fast, and at what CPU."""
    ctx = multiprocessing.get_context("spawn")
    ready, start, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    opts = {"batch": args.batch, "concurrency": args.concurrency, "mode": args.mode,
            "seconds": args.seconds}
    procs = [ctx.Process(target=writer, args=(url, w, opts, ready, start, out))
             for w in range(args.writers)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=300)
    audit.integrate_all()  # the key's own event and the warm-up events
    before = log.size()
    seq = Sequencer(audit, db, batch=int(os.environ.get("SEQ_BATCH", "1000")), interval=float(os.environ.get("SEQ_INT", "0.05")))
    freeze_startup_heap()  # the sequencer's process too, as in `idproof serve`
    sizes = _SizeSampler(log)
    seq.start()
    cpu0 = _cpu()  # this process: the sequencer (the sampler's CPU is taken out below)
    t0 = time.perf_counter()
    start.set()
    results = [out.get(timeout=args.seconds + 300) for _ in procs]
    for p in procs:
        p.join(30)
    while audit.pending_count():
        time.sleep(0.02)
    sizes.stop()
    seq.stop()
    counts = {actor: n for _, c, _, _ in results for actor, n in c.items()}
    total = sum(counts.values())
    return {"counts": counts, "total": total, "before": before,
            "lat": sorted(x for _, _, ls, _ in results for x in ls),
            "writers_cpu": sum(c for *_, c in results),
            "seq_cpu": _cpu() - cpu0 - sizes.cpu,
            # The sequencer's pace while the writers wrote, and when the tree had every
            # event (from the sampled head size, not from when this process noticed).
            "during": (sizes.size_at(t0 + args.seconds) - before) / args.seconds,
            "lag": sizes.time_reaching(before + total) - (t0 + args.seconds)}


def run(label: str, url: str, args: argparse.Namespace) -> dict[str, float]:
    upgrade(url)
    db = Database(url)
    audit = AuditService(db, inline=False)
    log = AuditLog(db, SEAL, origin="bench.example/idproof/audit", audit=audit,
                   every_events=1000, every_seconds=0)
    audit.appended.subscribe(log.after_append)
    log.ensure_key()
    m = _measure(url, db, audit, log, args)
    total, lat = m["total"], m["lat"]
    p50, p99 = lat[len(lat) // 2] * 1e3, lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3
    dense, order_ok = _check(db, m["counts"], m["before"], total)
    report = log.verify()
    db.dispose()
    rate = total / args.seconds
    print(f"{label:<10} {args.writers} writers x {args.concurrency} {args.mode} x {args.batch}"
          f"/call: {rate:>8,.0f} appends/s ({rate / TARGETS[label]:.2f}x the "
          f"{TARGETS[label]:,.0f}/s target); append p50 {p50:.2f} ms p99 {p99:.2f} ms "
          f"(p99/p50 {p99 / p50:.1f}, target <= {P99_OVER_P50:.0f}); {m['during']:,.0f} "
          f"integrated/s meanwhile, all in the tree {max(0.0, m['lag']) * 1e3:.0f} ms after the "
          f"last append; dense {'yes' if dense else 'NO'}, per-stream order "
          f"{'yes' if order_ok else 'NO'}, verify {'OK' if report.ok else 'FAILED'}", flush=True)
    # On a shared machine the rate above is what this process group got; the CPU it spent
    # per append is steadier, and bounds what the cores would give it on their own.
    cpu = m["writers_cpu"] + m["seq_cpu"]
    per = cpu / total * 1e6 if total else 0.0
    cores = os.cpu_count() or 1
    print(f"{label:<10} CPU per append {per:.0f} us (writers "
          f"{m['writers_cpu'] / total * 1e6:.0f}, sequencer {m['seq_cpu'] / total * 1e6:.0f}"
          f"{'; the PostgreSQL server not counted' if label == 'postgresql' else ''}): "
          f"{cores} idle cores would allow ~{cores * 1e6 / per:,.0f} appends/s "
          f"({cores * 1e6 / per / TARGETS[label]:.2f}x the target); "
          f"{cpu / args.seconds:.2f} cores used", flush=True)
    if not (dense and order_ok and report.ok):
        raise SystemExit(f"{label}: the log is not what was appended")
    return {"appends_per_s": rate, "p50_ms": p50, "p99_ms": p99}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=4, help="writer processes (4)")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="requests in flight per writer process (8)")
    parser.add_argument("--mode", choices=("async", "thread"), default="async",
                        help="async: coroutines awaiting record_async (the token grant); "
                             "thread: threads calling record")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=1, help="events per call (record_many)")
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    if min(args.writers, args.concurrency, args.batch) < 1 or args.seconds <= 0:
        parser.error("--writers, --concurrency, --batch and --seconds must be positive")
    names = [d.strip() for d in args.databases.split(",") if d.strip()]
    if "sqlite" in names:
        with sqlite_db() as url:
            run("sqlite", url, args)
    if "postgresql" in names:
        with postgres_db() as url:
            if url is not None:
                run("postgresql", url, args)


if __name__ == "__main__":
    main()
