"""Use cases of screening: import a list file as a new snapshot, search, screen a subject."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import IO, Any, cast

import structlog
from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.orm import Session, aliased

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import IdproofError, NotFound, ValidationFailed
from idproof.core.ids import new_id
from idproof.core.tasks import TaskQueue
from idproof.db.after_commit import after_commit
from idproof.db.engine import Database
from idproof.screening.importers import SOURCES, ListFormatError, parse
from idproof.screening.matching import DEFAULT_THRESHOLD, Hit, ListEntry, Query, ScreeningIndex
from idproof.screening.models import ScreeningEntry, ScreeningSettings, ScreeningSnapshot

log = structlog.get_logger("idproof.screening")
BATCH = 2000
_ENTRIES = cast(Table, ScreeningEntry.__table__)
# The task that re-screens monitored subjects against a newly activated snapshot.
RESCREEN_TASK = "screening_rescreen"
# A review below this; at or above it a hit is a confirmed match (exact name and birth date).
CONFIRMED_SCORE = 0.98


class ListRefused(IdproofError):
    status = 422
    code = "list_format_invalid"
    title = "The list file is not valid"


@dataclass(frozen=True)
class ImportResult:
    snapshot_id: str
    source: str
    version: int
    entries: int
    added: int
    removed: int
    changed: int
    seconds: float


@dataclass(frozen=True)
class SnapshotInfo:
    id: str
    source: str
    version: int
    status: str
    entries: int
    added: int
    removed: int
    changed: int
    created_at: datetime
    activated_at: datetime | None


@dataclass(frozen=True)
class ScreeningResult:
    """What a workflow `screening` step records: its outcome and the hits behind it."""

    outcome: str  # screening_clear | screening_potential_match | screening_confirmed_match
    hits: list[Hit]


def outcome_of(hits: list[Hit]) -> str:
    """The step outcome: clear without hits, confirmed when the best hit is near certain
    (name and birth date), else a potential match for a reviewer."""
    if not hits:
        return "screening_clear"
    best = hits[0]
    if best.score >= CONFIRMED_SCORE and "birth date matches" in best.explanation:
        return "screening_confirmed_match"
    return "screening_potential_match"


def entry_data(entry: ListEntry) -> dict[str, Any]:
    return {"names": list(entry.names), "birth_dates": list(entry.birth_dates),
            "countries": list(entry.countries), "gender": entry.gender,
            "topics": list(entry.topics)}


def _digest(entry: ListEntry) -> str:
    raw = json.dumps([entry.kind, entry_data(entry)], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


def _from_row(source: str, entry_id: str, kind: str, data: dict[str, Any]) -> ListEntry:
    return ListEntry(source=source, entry_id=entry_id, kind=kind,
                     names=tuple(data.get("names", ())),
                     birth_dates=tuple(data.get("birth_dates", ())),
                     countries=tuple(data.get("countries", ())), gender=data.get("gender"),
                     topics=tuple(data.get("topics", ())))


class _Hashing:
    """A file wrapper that hashes what is read (the snapshot records the file's SHA-256)."""

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

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def readable(self) -> bool:
        return True


class ScreeningService:
    """List snapshots and screening. Indexes live in memory, one per active snapshot; a
    search takes the indexes of the snapshots active when it starts, so an import that
    activates a new snapshot meanwhile never gives it half of two lists."""

    def __init__(self, db: Database, audit: AuditService, clock: Clock | None = None, *,
                 default_threshold: float = DEFAULT_THRESHOLD,
                 tasks: TaskQueue | None = None) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock or SystemClock()
        self.default_threshold = default_threshold
        self._indexes: dict[str, tuple[str, ScreeningIndex]] = {}
        self._lock = threading.Lock()
        # Ongoing monitoring runs as the task RESCREEN_TASK (source, snapshot id), queued
        # once an activation commits; bootstrap's table registers its handler.
        self._tasks = tasks

    # -- importing --------------------------------------------------------------------------

    def import_file(self, source: str, stream: IO[bytes], *, actor: str = "cli",
                    progress: Callable[[int, int], None] | None = None) -> ImportResult:
        """Load a list file as a new snapshot of `source` and activate it, or refuse it whole
        (ListRefused) leaving the active snapshot as it was. `progress(entries, bytes)`."""
        if source not in SOURCES:
            raise ValidationFailed(f"unknown source; use one of {', '.join(SOURCES)}",
                                   code="source_unknown")
        started = self._clock.now()
        import time
        t0 = time.perf_counter()
        snapshot_id = new_id("scs")
        with self._db.session() as s:
            version = (s.scalar(select(func.max(ScreeningSnapshot.version))
                                .where(ScreeningSnapshot.source == source)) or 0) + 1
            s.add(ScreeningSnapshot(id=snapshot_id, source=source, status="loading",
                                    version=version, entry_count=0, file_sha256="",
                                    added=0, removed=0, changed=0, created_at=started))
        reader = _Hashing(stream)
        count = 0
        try:
            batch: list[dict[str, Any]] = []
            for entry in parse(source, reader):  # type: ignore[arg-type]
                batch.append({"snapshot_id": snapshot_id, "entry_id": entry.entry_id,
                              "kind": entry.kind, "data": entry_data(entry),
                              "digest": _digest(entry)})
                count += 1
                if len(batch) >= BATCH:
                    self._write(batch)
                    batch = []
                    if progress:
                        progress(count, reader.bytes_read)
            if batch:
                self._write(batch)
            if progress:
                progress(count, reader.bytes_read)
            result = self._activate(snapshot_id, source, version, count,
                                    reader.sha.hexdigest(), actor, time.perf_counter() - t0)
        except ListFormatError as exc:
            self._discard(snapshot_id, exc.code, source, actor)
            raise ListRefused(exc.detail, code=exc.code) from None
        except BaseException:
            self._discard(snapshot_id, "import_failed", source, actor)
            raise
        log.info("screening.list_imported", source=source, version=version, entries=count,
                 added=result.added, removed=result.removed, changed=result.changed)
        self._load(source, snapshot_id)
        return result

    def _write(self, batch: list[dict[str, Any]]) -> None:
        with self._db.session() as s:
            s.execute(_ENTRIES.insert(), batch)

    def _discard(self, snapshot_id: str, code: str, source: str, actor: str) -> None:
        with self._db.session() as s:
            s.execute(delete(ScreeningEntry).where(ScreeningEntry.snapshot_id == snapshot_id))
            s.execute(update(ScreeningSnapshot).where(ScreeningSnapshot.id == snapshot_id)
                      .values(status="failed", error_code=code[:40]))
            self._audit.record_in(s, AuditEvent(
                action="screening.list_import", outcome="failure", actor_type="operator",
                actor_id=actor, target_type="screening_snapshot", target_id=snapshot_id,
                details={"source": source, "reason": code}))

    def _activate(self, snapshot_id: str, source: str, version: int, count: int, sha: str,
                  actor: str, seconds: float) -> ImportResult:
        new = aliased(ScreeningEntry)
        old = aliased(ScreeningEntry)
        with self._db.session() as s:
            previous = s.scalar(select(ScreeningSnapshot.id).where(
                ScreeningSnapshot.source == source, ScreeningSnapshot.status == "active"))
            if previous is None:
                added, removed, changed = count, 0, 0
            else:
                same = s.scalar(select(func.count()).select_from(new).join(
                    old, (old.entry_id == new.entry_id) & (old.snapshot_id == previous))
                    .where(new.snapshot_id == snapshot_id)) or 0
                changed = s.scalar(select(func.count()).select_from(new).join(
                    old, (old.entry_id == new.entry_id) & (old.snapshot_id == previous))
                    .where(new.snapshot_id == snapshot_id, old.digest != new.digest)) or 0
                before = s.scalar(select(func.count()).select_from(ScreeningEntry)
                                  .where(ScreeningEntry.snapshot_id == previous)) or 0
                added, removed = count - same, before - same
                s.execute(update(ScreeningSnapshot).where(ScreeningSnapshot.id == previous)
                          .values(status="superseded"))
                # Only the previous version's entries are kept (for the next diff's sake).
                older = select(ScreeningSnapshot.id).where(
                    ScreeningSnapshot.source == source, ScreeningSnapshot.status == "superseded",
                    ScreeningSnapshot.id != previous)
                s.execute(delete(ScreeningEntry).where(ScreeningEntry.snapshot_id.in_(older)))
            s.execute(update(ScreeningSnapshot).where(ScreeningSnapshot.id == snapshot_id)
                      .values(status="active", entry_count=count, file_sha256=sha, added=added,
                              removed=removed, changed=changed,
                              activated_at=self._clock.now()))
            self._audit.record_in(s, AuditEvent(
                action="screening.list_imported", actor_type="operator", actor_id=actor,
                target_type="screening_snapshot", target_id=snapshot_id,
                details={"source": source, "version": version, "entries": count,
                         "added": added, "removed": removed, "changed": changed,
                         "sha256": sha}))
            if self._tasks is not None:
                # Re-screening of monitored subjects, by a worker once this commits (a
                # rolled-back activation queues nothing).
                after_commit(s, partial(self._tasks.enqueue, RESCREEN_TASK, source,
                                        snapshot_id))
        return ImportResult(snapshot_id, source, version, count, added, removed, changed,
                            round(seconds, 3))

    def snapshots(self, source: str | None = None) -> list[SnapshotInfo]:
        with self._db.read() as s:
            q = select(ScreeningSnapshot).order_by(ScreeningSnapshot.source,
                                                   ScreeningSnapshot.version.desc())
            if source:
                q = q.where(ScreeningSnapshot.source == source)
            return [SnapshotInfo(r.id, r.source, r.version, r.status, r.entry_count, r.added,
                                 r.removed, r.changed, r.created_at, r.activated_at)
                    for r in s.scalars(q)]

    # -- indexes ----------------------------------------------------------------------------

    def _active(self, s: Session) -> dict[str, str]:
        rows = s.execute(select(ScreeningSnapshot.source, ScreeningSnapshot.id)
                         .where(ScreeningSnapshot.status == "active"))
        return {source: sid for source, sid in rows}

    def _load(self, source: str, snapshot_id: str) -> ScreeningIndex:
        with self._lock:
            cached = self._indexes.get(source)
            if cached and cached[0] == snapshot_id:
                return cached[1]

            def rows() -> Iterator[ListEntry]:
                with self._db.read() as s:
                    q = (select(ScreeningEntry.entry_id, ScreeningEntry.kind,
                                ScreeningEntry.data)
                         .where(ScreeningEntry.snapshot_id == snapshot_id)
                         .execution_options(yield_per=5000))
                    for entry_id, kind, data in s.execute(q):
                        yield _from_row(source, entry_id, kind, data)

            index = ScreeningIndex(rows())
            self._indexes[source] = (snapshot_id, index)
            return index

    def index_of(self, source: str, snapshot_id: str) -> ScreeningIndex:
        """The index of one snapshot (monitoring screens against the one just imported)."""
        return self._load(source, snapshot_id)

    def indexes(self) -> list[ScreeningIndex]:
        """The indexes of the snapshots active now (built on first use)."""
        with self._db.read() as s:
            active = self._active(s)
        return [self._load(source, sid) for source, sid in sorted(active.items())]

    def active_snapshots(self) -> dict[str, str]:
        """The snapshot id active now for each list source."""
        with self._db.read() as s:
            return dict(self._active(s))

    # -- settings ---------------------------------------------------------------------------

    def threshold(self, tenant_id: str) -> float:
        with self._db.read() as s:
            row = s.get(ScreeningSettings, tenant_id)
            return row.threshold if row else self.default_threshold

    def configure(self, tenant_id: str, *, threshold: float | None = None,
                  monitoring: bool | None = None, actor: str = "cli") -> ScreeningSettings:
        if threshold is not None and not 0.5 <= threshold <= 1.0:
            raise ValidationFailed("the threshold must be between 0.5 and 1",
                                   code="threshold_invalid")
        with self._db.session() as s:
            row = s.get(ScreeningSettings, tenant_id)
            if row is None:
                row = ScreeningSettings(tenant_id=tenant_id, threshold=self.default_threshold,
                                        monitoring=False, updated_at=self._clock.now())
                s.add(row)
            if threshold is not None:
                row.threshold = threshold
            if monitoring is not None:
                row.monitoring = monitoring
            row.updated_at = self._clock.now()
            self._audit.record_in(s, AuditEvent(
                action="screening.settings_changed", actor_type="operator", actor_id=actor,
                tenant_id=tenant_id, target_type="tenant", target_id=tenant_id,
                details={"threshold": row.threshold, "monitoring": row.monitoring}))
            s.flush()
            s.expunge(row)
            return row

    # -- screening --------------------------------------------------------------------------

    def match(self, query: Query, threshold: float, limit: int = 20) -> list[Hit]:
        """Hits of every active list at or above `threshold`, best first (pure of audit)."""
        hits: list[Hit] = []
        for index in self.indexes():
            hits += index.search(query, threshold, limit)
        hits.sort(key=lambda h: (-h.score, h.source, h.entry_id))
        return hits[:limit]

    def search(self, tenant_id: str, name: str, birth_date: date | None = None,
               country: str | None = None, *, actor_id: str, ip: str | None = None,
               request_id: str | None = None) -> list[Hit]:
        """An ad-hoc check, audited (counts and scores only: the name searched is personal
        data and stays out of the audit log)."""
        threshold = self.threshold(tenant_id)
        hits = self.match(Query(name, birth_date, country), threshold)
        with self._db.session() as s:
            self._audit.record_in(s, AuditEvent(
                action="screening.searched", actor_type="client", actor_id=actor_id,
                tenant_id=tenant_id, ip=ip, request_id=request_id,
                details={"hits": len(hits), "threshold": threshold,
                         "best_score": hits[0].score if hits else 0.0,
                         "entries": [f"{h.source}:{h.entry_id}" for h in hits[:10]]}))
        return hits

    def screen_subject(self, tenant_id: str, name: str, birth_date: date | None,
                       nationality: str | None, gender: str | None = None
                       ) -> ScreeningResult:
        """What a workflow `screening` step calls with the document's extracted name, birth
        date and nationality: persons only, the tenant's threshold."""
        from idproof.screening.countries import alpha2

        country = alpha2(nationality) if nationality else None
        hits = self.match(Query(name, birth_date, country, gender, persons_only=True),
                          self.threshold(tenant_id))
        return ScreeningResult(outcome_of(hits), hits)

    def snapshot(self, snapshot_id: str) -> SnapshotInfo:
        for info in self.snapshots():
            if info.id == snapshot_id:
                return info
        raise NotFound("no such snapshot", code="snapshot_not_found")
