"""Audit log on a real database: appends/s, proofs and `audit verify` at a million events.

    python bench/audit.py [--events 1000000] [--seconds 3] [--pg-million]

Appends go through AuditService (one event per transaction, and batches of 100) on SQLite and
on PostgreSQL (IDPROOF_BENCH_DATABASE_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/
test: a fresh database is created beside it and dropped at the end). The million-event log is
bulk-loaded on SQLite (and PostgreSQL with --pg-million) the way the service would have built
it: each leaf hashed from the event's fields, the nodes it completes from a CompactRange, a
signed checkpoint every 1000 events. `audit verify` then has to accept it, so the figures are
for a genuinely valid log.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text, update
from sqlalchemy.engine import make_url

from idproof.audit.checkpoint import sign_checkpoint
from idproof.audit.events import AuditEvent
from idproof.audit.log import AuditLog
from idproof.audit.merkle import CompactRange
from idproof.audit.models import AuditCheckpoint, AuditEventRow, AuditNode, AuditTreeHead
from idproof.audit.service import AuditService
from idproof.db.engine import Database
from idproof.db.migrate import upgrade

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SEAL = b"\x42" * 32
ORIGIN = "bench.idproof.local/idproof/audit"
CHECKPOINT_EVERY = 1000
CHUNK = 20_000


@contextmanager
def sqlite_db() -> Iterator[str]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    try:
        yield f"sqlite:///{tmp / 'audit.db'}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def postgres_db() -> Iterator[str | None]:
    """A fresh database next to IDPROOF_BENCH_DATABASE_URL, dropped afterwards (None if down)."""
    base = os.environ.get("IDPROOF_BENCH_DATABASE_URL", PG_DEFAULT)
    name = f"idproof_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(f"PostgreSQL unavailable ({type(exc).__name__}); skipping its figures")
        admin.dispose()
        yield None
        return
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _event(i: int, rng: random.Random) -> AuditEvent:
    return AuditEvent(
        action=rng.choice(("token.issued", "pii.read", "session.created", "vault.detokenize")),
        actor_type="client", actor_id=f"cli_{rng.randrange(50):024d}",
        tenant_id=f"ten_{rng.randrange(10):024d}", target_type="session",
        target_id=f"ses_{i:024d}", ip=f"10.{i % 256}.{(i >> 8) % 256}.{rng.randrange(256)}",
        request_id=f"req_{i:016x}", details={"scopes": ["identity.verify"], "n": i})


def bench_appends(label: str, url: str, seconds: float) -> None:
    upgrade(url)
    db = Database(url)
    audit = AuditService(db)
    log = AuditLog(db, SEAL, origin=ORIGIN, audit=audit, every_seconds=0)
    audit.on_appended(log.after_append)  # as wired in production: a checkpoint per 1000
    log.ensure_key()
    rng = random.Random(1)
    try:
        for name, batch in (("one at a time", 1), ("batched x100", 100)):
            n = 0
            started = time.perf_counter()
            deadline = started + seconds
            while time.perf_counter() < deadline and n < 1_000_000:
                if batch == 1:
                    audit.record(_event(n, rng))
                else:
                    audit.record_many(_event(n + j, rng) for j in range(batch))
                n += batch
            elapsed = time.perf_counter() - started
            print(f"{label:<10} append {name:<14} {n / elapsed:>10,.0f} events/s  "
                  f"({elapsed / n * batch * 1e3:.2f} ms per transaction)")
        report = log.verify()
        assert report.ok, (report.finding, report.problems)
    finally:
        db.dispose()


def bulk_fill(url: str, n: int) -> AuditLog:
    """Load `n` events as the service would have appended them, in large transactions."""
    upgrade(url)
    db = Database(url)
    log = AuditLog(db, SEAL, origin=ORIGIN, every_seconds=0)
    log.ensure_key()
    signer = log._current_signer()
    audit = AuditService(db)
    rng = random.Random(6962)
    edge = CompactRange()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    events_table, nodes_table = AuditEventRow.__table__, AuditNode.__table__
    assert log.size() == 0, "the bulk load starts from an empty log"
    for chunk_start in range(0, n, CHUNK):
        rows: list[dict[str, Any]] = []
        nodes: list[dict[str, Any]] = []
        checkpoints: list[dict[str, Any]] = []
        for i in range(chunk_start, min(chunk_start + CHUNK, n)):
            # values(): the same validation and leaf hash as a real append.
            values = audit.values(replace(_event(i, rng),
                                          occurred_at=start + timedelta(microseconds=i * 1500)))
            values["idx"] = i
            rows.append(values)
            nodes.extend({"level": nd.level, "idx": nd.index, "hash": nd.hash}
                         for nd in edge.append(values["leaf_hash"]))
            if edge.size % CHECKPOINT_EVERY == 0:
                note = sign_checkpoint(ORIGIN, edge.size, edge.root(), signer.name,
                                       signer.private)
                checkpoints.append({"size": edge.size, "root": edge.root(), "note": note,
                                    "created_at": values["occurred_at"]})
        with db.session() as s:
            s.execute(insert(events_table), rows)
            s.execute(insert(nodes_table), nodes)
            if checkpoints:
                s.execute(insert(AuditCheckpoint.__table__), checkpoints)
            s.execute(update(AuditTreeHead.__table__).values(size=edge.size))
    return log


def _per_call(fn: Callable[[], object], rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        fn()
    return (time.perf_counter() - started) / rounds


def bench_million(label: str, url: str, n: int) -> None:
    started = time.perf_counter()
    log = bulk_fill(url, n)
    print(f"{label:<10} bulk load {n:>9,} events   {time.perf_counter() - started:8.1f} s "
          f"(leaves, nodes, a checkpoint per {CHECKPOINT_EVERY})")
    size = log.size()
    rng = random.Random(9162)
    indexes = iter([rng.randrange(size) for _ in range(1000)])
    per = _per_call(lambda: log.inclusion(next(indexes), size, tenant_id=None), 500)
    print(f"{label:<10} inclusion proof at {size:,}  {per * 1e3:10.2f} ms")
    firsts = iter([rng.randrange(1, size) for _ in range(1000)])
    per = _per_call(lambda: log.consistency(next(firsts), size), 500)
    print(f"{label:<10} consistency proof at {size:,} {per * 1e3:8.2f} ms")
    started = time.perf_counter()
    report = log.verify()
    elapsed = time.perf_counter() - started
    assert report.ok, (report.finding, report.problems)
    print(f"{label:<10} audit verify over {report.events:,} events {elapsed:8.1f} s "
          f"({report.events / elapsed:,.0f} events/s, {report.checkpoints_checked} checkpoints)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=3.0, help="per append measurement")
    parser.add_argument("--pg-million", action="store_true",
                        help="also load and verify the million-event log on PostgreSQL")
    args = parser.parse_args()
    total = time.perf_counter()
    with sqlite_db() as url:
        bench_appends("sqlite", url, args.seconds)
    with postgres_db() as pg:
        if pg is not None:
            bench_appends("postgresql", pg, args.seconds)
    with sqlite_db() as url:
        bench_million("sqlite", url, args.events)
    if args.pg_million:
        with postgres_db() as pg:
            if pg is not None:
                bench_million("postgresql", pg, args.events)
    print(f"total {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    main()
