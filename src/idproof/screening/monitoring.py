"""Ongoing monitoring: re-screen approved subjects after a list import; new hits become cases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.ids import new_id
from idproof.crypto.errors import CryptoError
from idproof.crypto.fields import FieldProtection, bind_protection
from idproof.db.engine import Database
from idproof.screening.countries import alpha2
from idproof.screening.matching import Hit, Query
from idproof.screening.models import ScreeningHit, ScreeningSettings, ScreeningSnapshot
from idproof.screening.service import ScreeningService
from idproof.verification.models import SessionDocument, VerificationSession

log = structlog.get_logger("idproof.screening.monitoring")
# Emit(s, tenant_id, event_type, data) -> event id: the webhook outbox, in the caller's
# transaction (bootstrap passes WebhookService.emit).
Emit = Callable[[Session, str, str, dict[str, Any]], object]
MATCH_EVENT = "screening.match"
PAGE = 500  # subjects decrypted and screened per read


@dataclass(frozen=True)
class SubjectFacts:
    """What a subject is screened with, decrypted only for the time of the search."""

    name: str
    birth_date: date | None
    nationality: str | None
    gender: str | None


@dataclass(frozen=True)
class MonitoringRun:
    source: str
    snapshot_id: str
    tenants: int
    subjects: int
    new_hits: int


def facts_of(doc: SessionDocument) -> SubjectFacts | None:
    """The screening query of a document's (decrypted) fields; None without a name."""
    name = " ".join(p for p in (doc.given_names, doc.surname) if p)
    if not name.strip():
        return None
    born: date | None = None
    if doc.birth_date:
        try:
            born = date.fromisoformat(doc.birth_date)
        except ValueError:
            born = None
    sex = (doc.sex or "").upper()[:1]
    gender = {"M": "male", "F": "female"}.get(sex)
    return SubjectFacts(name, born, doc.nationality, gender)


def webhook_body(hit: ScreeningHit) -> dict[str, Any]:
    """The `screening.match` body: ids, list and score; never the subject's or listed name."""
    return {"hit_id": hit.id, "session_id": hit.session_id, "source": hit.source,
            "entry_id": hit.entry_id, "score": hit.score, "snapshot_id": hit.snapshot_id,
            "origin": hit.origin, "status": hit.status}


class ScreeningMonitor:
    """Re-screens approved subjects of tenants with monitoring on when a list changes; each
    hit not seen before for that session is stored as an open case, audited, and sent as a
    `screening.match` webhook in the same transaction."""

    def __init__(self, db: Database, audit: AuditService, protection: FieldProtection,
                 screening: ScreeningService, emit: Emit | None = None,
                 clock: Clock | None = None) -> None:
        self._db = db
        self._audit = audit
        self._protection = protection
        self._screening = screening
        self._emit = emit
        self._clock = clock or SystemClock()


    def _monitored_tenants(self) -> list[tuple[str, float]]:
        with self._db.read() as s:
            rows = s.execute(select(ScreeningSettings.tenant_id, ScreeningSettings.threshold)
                             .where(ScreeningSettings.monitoring.is_(True))
                             .order_by(ScreeningSettings.tenant_id))
            return [(t, th) for t, th in rows]

    def _subjects(self, tenant_id: str) -> Iterator[tuple[str, SubjectFacts]]:
        """The tenant's approved subjects, a page at a time (decrypted names stay few)."""
        after = ""
        while True:
            page: list[tuple[str, SubjectFacts]] = []
            with self._db.read() as s:
                bind_protection(s, self._protection)
                q = (select(SessionDocument).join(
                    VerificationSession, VerificationSession.id == SessionDocument.session_id)
                    .where(VerificationSession.tenant_id == tenant_id,
                           VerificationSession.status == "approved",
                           SessionDocument.session_id > after)
                    .order_by(SessionDocument.session_id).limit(PAGE))
                docs = list(s.scalars(q))
                for doc in docs:
                    try:
                        facts = facts_of(doc)
                    except CryptoError:  # a shredded key: the subject was erased meanwhile
                        log.info("screening.monitoring_subject_skipped", session=doc.session_id)
                        continue
                    if facts is not None:
                        page.append((doc.session_id, facts))
            yield from page
            if len(docs) < PAGE:
                return
            after = docs[-1].session_id

    def rescreen(self, source: str, snapshot_id: str) -> MonitoringRun:
        """The task `screening_rescreen` (queued by each activated import, run by a
        worker): monitored tenants' approved subjects against the new snapshot. One that a
        later import superseded meanwhile is skipped: that import queued its own run."""
        with self._db.read() as s:
            status = s.scalar(select(ScreeningSnapshot.status)
                              .where(ScreeningSnapshot.id == snapshot_id))
        if status != "active":
            log.info("screening.monitoring_skipped", source=source, status=status)
            return MonitoringRun(source, snapshot_id, 0, 0, 0)
        index = self._screening.index_of(source, snapshot_id)
        tenants = self._monitored_tenants()
        subjects = new = 0
        for tenant_id, threshold in tenants:
            for session_id, facts in self._subjects(tenant_id):
                subjects += 1
                country = alpha2(facts.nationality) if facts.nationality else None
                hits = index.search(Query(facts.name, facts.birth_date, country, facts.gender,
                                          persons_only=True), threshold)
                new += self.record(tenant_id, session_id, snapshot_id, hits,
                                   origin="monitoring")
        log.info("screening.monitoring_run", source=source, tenants=len(tenants),
                 subjects=subjects, new_hits=new)
        return MonitoringRun(source, snapshot_id, len(tenants), subjects, new)

    def record(self, tenant_id: str, session_id: str, snapshot_id: str, hits: list[Hit], *,
               origin: str) -> int:
        """Store the hits not yet known for this session as open cases (the workflow step
        calls this too, with origin='step'); returns how many were new."""
        new = 0
        for hit in hits:
            with self._db.session() as s:
                known = s.scalar(select(ScreeningHit.id).where(
                    ScreeningHit.session_id == session_id, ScreeningHit.source == hit.source,
                    ScreeningHit.entry_id == hit.entry_id))
                if known is not None:
                    continue
                row = ScreeningHit(
                    id=new_id("hit"), tenant_id=tenant_id, session_id=session_id,
                    source=hit.source, entry_id=hit.entry_id, snapshot_id=snapshot_id,
                    listed_name=hit.name[:300], score=hit.score,
                    explanation=hit.explanation[:500], origin=origin, status="open",
                    created_at=self._clock.now())
                s.add(row)
                try:
                    s.flush()
                except IntegrityError:  # found by a concurrent run: already a case
                    s.rollback()
                    continue
                self._audit.record_in(s, AuditEvent(
                    action="screening.hit_found", actor_type="system", tenant_id=tenant_id,
                    target_type="session", target_id=session_id,
                    details={"hit": row.id, "source": hit.source, "entry": hit.entry_id,
                             "score": hit.score, "origin": origin}))
                if self._emit is not None:
                    self._emit(s, tenant_id, MATCH_EVENT, webhook_body(row))
                new += 1
        return new
