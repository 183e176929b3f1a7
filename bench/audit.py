"""Audit log on a real database: appends/s, proofs and `audit verify` at a million events.

    python bench/audit.py [--events 1000000] [--seconds 3] [--pg-million]

Appends go through AuditService (one event per transaction, and batches of 100) on SQLite and
on PostgreSQL (IDPROOF_BENCH_DATABASE_URL, else the test services' IDPROOF_TEST_DATABASE_URL,
else postgresql+psycopg://postgres@127.0.0.1:5432/test: a fresh database is created beside it and
dropped at the end). The million-event log is
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text, update
from sqlalchemy.engine import make_url

from idproof.audit.checkpoint import sign_checkpoint
from idproof.audit.events import AuditEvent
from idproof.audit.leaf import event_leaf_hash, format_time
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
_ACTIONS = ("token.issued", "pii.read", "session.created", "vault.detokenize")


@contextmanager
def sqlite_db() -> Iterator[str]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    try:
        yield f"sqlite:///{tmp / 'audit.db'}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def postgres_db() -> Iterator[str | None]:
    """A fresh database next to IDPROOF_BENCH_DATABASE_URL (else IDPROOF_TEST_DATABASE_URL),
    dropped afterwards (None if down)."""
    base = (os.environ.get("IDPROOF_BENCH_DATABASE_URL")
            or os.environ.get("IDPROOF_TEST_DATABASE_URL") or PG_DEFAULT)
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
        action=rng.choice(_ACTIONS),
        actor_type="client", actor_id=f"cli_{rng.randrange(50):024d}",
        tenant_id=f"ten_{rng.randrange(10):024d}", target_type="session",
        target_id=f"ses_{i:024d}", ip=f"10.{i % 256}.{(i >> 8) % 256}.{rng.randrange(256)}",
        request_id=f"req_{i:016x}", details={"scopes": ["identity.verify"], "n": i})


def bench_appends(label: str, url: str, seconds: float) -> None:
    upgrade(url)
    db = Database(url)
    audit = AuditService(db)
    log = AuditLog(db, SEAL, origin=ORIGIN, audit=audit, every_seconds=0)
    audit.appended.subscribe(log.after_append)  # as wired in production: a checkpoint per 1000
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


def _raw_insert(db: Database, table: Any, columns: tuple[str, ...]) -> tuple[str, list[Any]]:
    """A plain DBAPI INSERT and the column types' own bind processors: the rows are stored
    exactly as SQLAlchemy would store them, without its per-row overhead."""
    dialect = db.engine.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    marks = [f"CAST({mark} AS JSON)" if c == "details" and db.dialect == "postgresql" else mark
             for c in columns]
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(marks)})"
    return sql, [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]


_EVENT_COLUMNS = ("idx", "leaf_hash", "occurred_at", "actor_type", "actor_id", "tenant_id",
                  "action", "target_type", "target_id", "outcome", "ip", "request_id", "purpose",
                  "details")


def bulk_fill(url: str, n: int) -> AuditLog:
    """Load `n` events as the service would have appended them, in large transactions."""
    upgrade(url)
    db = Database(url)
    log = AuditLog(db, SEAL, origin=ORIGIN, every_seconds=0)
    log.ensure_key()
    signer = log._key.current_signer()
    assert log.size() == 0, "the bulk load starts from an empty log"
    rng = random.Random(6962)
    edge = CompactRange()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    event_sql, procs = _raw_insert(db, AuditEventRow.__table__, _EVENT_COLUMNS)
    node_sql, _ = _raw_insert(db, AuditNode.__table__, ("level", "idx", "hash"))
    with_proc = [(k, p) for k, p in enumerate(procs) if p is not None]
    for chunk_start in range(0, n, CHUNK):
        rows: list[list[Any]] = []
        nodes: list[tuple[int, int, bytes]] = []
        checkpoints: list[dict[str, Any]] = []
        for i in range(chunk_start, min(chunk_start + CHUNK, n)):
            when = start + timedelta(microseconds=i * 1500)
            fields = {
                "actor_type": "client", "actor_id": f"cli_{rng.randrange(50):024d}",
                "tenant_id": f"ten_{rng.randrange(10):024d}", "action": rng.choice(_ACTIONS),
                "target_type": "session", "target_id": f"ses_{i:024d}", "outcome": "success",
                "ip": f"10.{i % 256}.{(i >> 8) % 256}.{rng.randrange(256)}",
                "request_id": f"req_{i:016x}", "purpose": None,
                "occurred_at": format_time(when),
                "details": {"scopes": ["identity.verify"], "n": i},
            }
            leaf = event_leaf_hash(fields)  # what AuditService.values computes
            row = [i, leaf, when, *(fields[c] for c in _EVENT_COLUMNS[3:-1]), fields["details"]]
            for k, proc in with_proc:
                row[k] = proc(row[k])
            rows.append(row)
            nodes.extend((nd.level, nd.index, nd.hash) for nd in edge.append(leaf))
            if edge.size % CHECKPOINT_EVERY == 0:
                root = edge.root()
                checkpoints.append({"size": edge.size, "root": root, "created_at": when,
                                    "note": sign_checkpoint(ORIGIN, edge.size, root,
                                                            signer.name, signer.private)})
        with db.engine.begin() as conn:
            conn.exec_driver_sql(event_sql, [tuple(r) for r in rows])
            conn.exec_driver_sql(node_sql, nodes)
            if checkpoints:
                conn.execute(insert(AuditCheckpoint.__table__), checkpoints)
            conn.execute(update(AuditTreeHead.__table__).values(size=edge.size))
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
