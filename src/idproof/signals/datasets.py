"""IP datasets: import a file as the new active dataset of its kind, and the lookup over them."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, cast

from sqlalchemy import Table, delete, select, update

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import IdproofError, ValidationFailed
from idproof.core.ids import new_id
from idproof.db.engine import Database
from idproof.signals.ipintel import KINDS, DatasetError, IpIntel, IpRange, RangeTable, hex32, parse
from idproof.signals.models import SignalDataset, SignalRange

BATCH = 5000
_RANGES = cast(Table, SignalRange.__table__)


class DatasetRefused(IdproofError):
    status = 422
    code = "dataset_invalid"
    title = "The dataset file is not valid"


@dataclass(frozen=True)
class DatasetImport:
    dataset_id: str
    kind: str
    entries: int
    seconds: float


class _Hashing:
    """Hashes what is read (the dataset records its file's SHA-256)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.sha = hashlib.sha256()
        self.bytes_read = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.sha.update(data)
        self.bytes_read += len(data)
        return data

    def readline(self, n: int = -1) -> bytes:
        data = self._raw.readline(n)
        self.sha.update(data)
        self.bytes_read += len(data)
        return data


class Datasets:
    """The imported IP datasets; the lookup tables are built on first use after a change."""

    def __init__(self, db: Database, audit: AuditService, clock: Clock | None = None) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._cached: tuple[tuple[str, ...], IpIntel] | None = None

    def import_file(self, kind: str, stream: IO[bytes], *, actor: str = "cli",
                    progress: Callable[[int, int], None] | None = None) -> DatasetImport:
        """Load `stream` as the new active dataset of `kind`, or refuse it whole
        (DatasetRefused), the previous one staying active. `progress(entries, bytes)`."""
        if kind not in KINDS:
            raise ValidationFailed(f"unknown dataset; use one of {', '.join(KINDS)}",
                                   code="dataset_kind_unknown")
        t0 = time.perf_counter()
        dataset_id = new_id("ipd")
        with self._db.session() as s:
            s.add(SignalDataset(id=dataset_id, kind=kind, status="loading", entries=0,
                                sha256="", created_at=self._clock.now()))
        reader = _Hashing(stream)
        count = 0
        try:
            batch: dict[str, dict[str, Any]] = {}
            for r in parse(kind, reader):  # type: ignore[arg-type]
                first = hex32(r.first)
                batch[first] = {"dataset_id": dataset_id, "first": first,
                                "last": hex32(r.last), "country": r.country, "asn": r.asn,
                                "org": r.org}  # a repeated start: the last line wins
                count += 1
                if len(batch) >= BATCH:
                    self._write(dataset_id, batch)
                    batch = {}
                    if progress:
                        progress(count, reader.bytes_read)
            self._write(dataset_id, batch)
            if progress:
                progress(count, reader.bytes_read)
            self._activate(dataset_id, kind, count, reader.sha.hexdigest(), actor)
        except DatasetError as exc:
            self._discard(dataset_id, kind, exc.code, actor)
            raise DatasetRefused(exc.detail, code=exc.code) from None
        except BaseException:
            self._discard(dataset_id, kind, "import_failed", actor)
            raise
        return DatasetImport(dataset_id, kind, count, round(time.perf_counter() - t0, 3))

    def _write(self, dataset_id: str, batch: dict[str, dict[str, Any]]) -> None:
        if not batch:
            return
        with self._db.session() as s:
            # A start repeated across batches replaces the earlier row.
            s.execute(delete(SignalRange).where(SignalRange.dataset_id == dataset_id,
                                                SignalRange.first.in_(list(batch))))
            s.execute(_RANGES.insert(), list(batch.values()))

    def _discard(self, dataset_id: str, kind: str, code: str, actor: str) -> None:
        with self._db.session() as s:
            s.execute(delete(SignalRange).where(SignalRange.dataset_id == dataset_id))
            s.execute(update(SignalDataset).where(SignalDataset.id == dataset_id)
                      .values(status="failed"))
            self._audit.record_in(s, AuditEvent(
                action="signals.dataset_import", outcome="failure", actor_type="operator",
                actor_id=actor, target_type="signal_dataset", target_id=dataset_id,
                details={"kind": kind, "reason": code}))

    def _activate(self, dataset_id: str, kind: str, count: int, sha: str, actor: str) -> None:
        with self._db.session() as s:
            old = list(s.scalars(select(SignalDataset.id).where(
                SignalDataset.kind == kind, SignalDataset.status == "active")))
            if old:
                s.execute(update(SignalDataset).where(SignalDataset.id.in_(old))
                          .values(status="superseded"))
                s.execute(delete(SignalRange).where(SignalRange.dataset_id.in_(old)))
            s.execute(update(SignalDataset).where(SignalDataset.id == dataset_id)
                      .values(status="active", entries=count, sha256=sha))
            self._audit.record_in(s, AuditEvent(
                action="signals.dataset_imported", actor_type="operator", actor_id=actor,
                target_type="signal_dataset", target_id=dataset_id,
                details={"kind": kind, "entries": count, "sha256": sha}))

    def active(self) -> dict[str, tuple[str, int]]:
        """kind -> (dataset id, entries) of the active datasets."""
        with self._db.read() as s:
            rows = s.execute(select(SignalDataset.kind, SignalDataset.id, SignalDataset.entries)
                             .where(SignalDataset.status == "active"))
            return {k: (i, n) for k, i, n in rows}

    def intel(self) -> IpIntel:
        """The lookup over the active datasets, rebuilt when one of them changed."""
        active = self.active()
        key = tuple(sorted(i for i, _ in active.values()))
        with self._lock:
            if self._cached is not None and self._cached[0] == key:
                return self._cached[1]
            tables = {}
            with self._db.read() as s:
                for kind, (dataset_id, _) in active.items():
                    q = (select(SignalRange.first, SignalRange.last, SignalRange.country,
                                SignalRange.asn, SignalRange.org)
                         .where(SignalRange.dataset_id == dataset_id)
                         .execution_options(yield_per=10000))
                    tables[kind] = RangeTable(IpRange(int(a, 16), int(b, 16), c, n, o)
                                              for a, b, c, n, o in s.execute(q))
            intel = IpIntel(tables)
            self._cached = (key, intel)
            return intel
