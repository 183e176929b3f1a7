"""Consent: versioned texts per tenant and locale, acceptances with their IP (cut after 30
days by the purge), and withdrawal, which stops processing and erases per policy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.data_subject import DataSubject
from idproof.core.errors import Conflict, NotFound, ValidationFailed
from idproof.core.ids import new_id
from idproof.db.engine import Database
from idproof.privacy.models import ConsentGrant, ConsentText, LegalHold
from idproof.privacy.subjects import SubjectService, subject_digest
from idproof.verification.lifecycle import Status
from idproof.verification.models import VerificationSession
from idproof.verification.service import Actor, SessionService

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
OPEN = (Status.NOT_STARTED.value, Status.IN_PROGRESS.value)
# Kept after a withdrawal: approved sessions are records a tenant must keep (AML); they go
# with their retention. Everything else of the subject is erased at once.
KEPT_ON_WITHDRAWAL = frozenset({Status.APPROVED.value})


@dataclass(frozen=True, slots=True)
class TextView:
    tenant_id: str
    locale: str
    version: str
    text: str


class ConsentService:
    def __init__(self, db: Database, audit: AuditService, sessions: SessionService,
                 data: DataSubject, subjects: SubjectService,
                 clock: Clock | None = None) -> None:
        self._db = db
        self._audit = audit
        self._sessions = sessions
        self._data = data  # a session's personal data: erased through it
        self._subjects = subjects
        self._clock = clock or SystemClock()

    # -- texts -------------------------------------------------------------------------------
    def publish(self, tenant_id: str, locale: str, version: str, text: str, *,
                actor: str = "cli") -> TextView:
        """A new version of the tenant's consent text for `locale` (immutable once there)."""
        if not _LOCALE.match(locale) or not _VERSION.match(version):
            raise ValidationFailed("locale like `en` or `pt-BR`; version 1-32 of A-Z a-z 0-9 "
                                   ". _ -", code="invalid_consent_text")
        if not text.strip() or len(text) > 20_000:
            raise ValidationFailed("the consent text must be 1 to 20,000 characters",
                                   code="invalid_consent_text")
        try:
            with self._db.session() as s:
                s.add(ConsentText(id=new_id("cnt"), tenant_id=tenant_id, locale=locale,
                                  version=version, text=text, created_at=self._clock.now()))
                s.flush()
                self._audit.record_in(s, AuditEvent(
                    action="privacy.consent_text_published", actor_type="operator",
                    actor_id=actor, tenant_id=tenant_id, target_type="tenant",
                    target_id=tenant_id, details={"locale": locale, "version": version}))
        except IntegrityError:
            raise Conflict("this version exists already; texts are immutable",
                           code="consent_version_exists") from None
        return TextView(tenant_id, locale, version, text)

    def current(self, tenant_id: str, locale: str) -> TextView | None:
        """The newest text for the locale, else for its language, else None (the built-in
        text of the hosted pages applies)."""
        with self._db.read() as s:
            for loc in dict.fromkeys((locale, locale.split("-")[0])):
                row = s.scalar(select(ConsentText).where(
                    ConsentText.tenant_id == tenant_id, ConsentText.locale == loc)
                    .order_by(ConsentText.created_at.desc(), ConsentText.id.desc()).limit(1))
                if row is not None:
                    return TextView(row.tenant_id, row.locale, row.version, row.text)
        return None

    # -- acceptances -------------------------------------------------------------------------
    def record(self, s: Session, row: VerificationSession, *, version: str, locale: str,
               ip: str | None) -> None:
        """Store one acceptance in the caller's transaction (the hosted consent page): the
        tenant's current text version for the locale when it published one."""
        current = self.current(row.tenant_id, locale)
        s.add(ConsentGrant(id=new_id("cng"), session_id=row.id, tenant_id=row.tenant_id,
                           text_version=current.version if current else version,
                           locale=locale, accepted_at=self._clock.now(), ip=ip,
                           ip_truncated=False))

    def withdraw(self, actor: Actor, reference: str) -> dict[str, Any]:
        """The subject withdraws consent: open sessions are cancelled (no further capture or
        job), acceptances marked withdrawn, and every session not kept by law (approved)
        or under a legal hold is erased at once."""
        now = self._clock.now()
        with self._db.session() as s:
            rows = list(s.scalars(select(VerificationSession).where(
                VerificationSession.tenant_id == actor.tenant_id,
                VerificationSession.reference == reference).with_for_update()))
            if not rows:
                raise NotFound("no sessions of this reference in your tenant",
                               code="subject_not_found")
            ids = [r.id for r in rows]
            held = set(s.scalars(select(LegalHold.session_id).where(
                LegalHold.session_id.in_(ids), LegalHold.released_at.is_(None))))
            cancelled = []
            for row in rows:
                if row.status in OPEN:
                    self._sessions.set_status(s, row, Status.CANCELLED)
                    self._sessions.emit(s, row, "session.cancelled")
                    cancelled.append(row.id)
            for grant in s.scalars(select(ConsentGrant).where(
                    ConsentGrant.session_id.in_(ids), ConsentGrant.withdrawn_at.is_(None))):
                grant.withdrawn_at = now
            erase = [r.id for r in rows if r.id not in held
                     and (r.status not in KEPT_ON_WITHDRAWAL or r.id in cancelled)]
            self._audit.record_in(s, AuditEvent(
                action="privacy.consent_withdrawn", actor_type=actor.actor_type,
                actor_id=actor.client_id, tenant_id=actor.tenant_id, target_type="subject",
                target_id=subject_digest(actor.tenant_id, reference), ip=actor.ip,
                request_id=actor.request_id,
                details={"cancelled": len(cancelled), "to_erase": len(erase),
                         "held": len(held)}))
        erased = []
        for sid in erase:
            try:
                if self._data.erase(actor, sid):
                    erased.append(sid)
            except NotFound:
                erased.append(sid)  # erased meanwhile by another request
        return {"reference": reference, "withdrawn_at": now.isoformat(),
                "cancelled": cancelled, "erased": erased,
                "kept": sorted(set(ids) - set(erased))}
