"""Signals in the session lifecycle: facts read, reasons on the decision, faces in and out."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idproof.core.events import SessionEvent, StepRecorded
from idproof.crypto.errors import CryptoError
from idproof.crypto.fields import bind_protection
from idproof.crypto.protection import DataProtection
from idproof.screening.countries import alpha2
from idproof.signals.models import SignalFace, SignalResult
from idproof.signals.rules import Report
from idproof.signals.service import Assessment, SignalService
from idproof.signals.variables import rule_values
from idproof.verification.biometrics.models import SelfieTemplate
from idproof.verification.models import SessionDocument, VerificationSession
from idproof.verification.service import SessionService

FINAL_OTHER = ("declined", "expired", "abandoned", "cancelled")


def session_facts(s: Session, protection: DataProtection, row: VerificationSession,
                  base: Assessment) -> Assessment:
    """`base` (IP, device) completed with what the session holds: the document's blind
    index and countries, and the selfie's embedding while it is kept (until the decision)."""
    bind_protection(s, protection)
    doc = s.scalar(select(SessionDocument).where(SessionDocument.session_id == row.id))
    index: str | None = None
    countries: tuple[str, ...] = ()
    if doc is not None:
        index = doc.document_index
        try:
            countries = tuple(c for c in (doc.issuing_country, doc.nationality) if c)
        except CryptoError:
            countries = ()
    embedding = None
    template = s.get(SelfieTemplate, row.id)
    if template is not None:
        try:
            raw = protection.decrypt(row.tenant_id, "selfie_templates", "sealed_embedding",
                                     row.id, None, template.sealed_embedding)
            embedding = np.frombuffer(raw, dtype="<f8")
        except CryptoError:
            embedding = None
    alpha = tuple(a.upper() for a in (alpha2(c) for c in countries) if a)
    return Assessment(ip=base.ip, device=base.device, document_index=index,
                      document_countries=alpha, embedding=embedding)


# A step's result that the signals read again: a document read, a selfie or liveness stored.
ASSESSED_AFTER = frozenset({"passed", "failed", "retry"})


def step_recorded(signals: SignalService, protection: DataProtection, s: Session,
                  event: StepRecorded) -> None:
    """Subscribed to `StepRecorded` (bootstrap's table): every session gets its signals
    from its document and selfie as their results are stored, with the IP and device
    posted earlier by the hosted page kept in the evidence."""
    if event.state not in ASSESSED_AFTER or event.step not in ("document", "selfie",
                                                                 "liveness"):
        return
    row = s.get(VerificationSession, event.session_id)
    if row is not None and row.tenant_id == event.tenant_id:
        signals.assess_in(s, row.tenant_id, row.id,
                          session_facts(s, protection, row, Assessment()))


def decision_values(signals: SignalService, protection: DataProtection, s: Session,
                    row: VerificationSession) -> dict[str, Any]:
    """The values of `signals.*` for the workflow's rules, computed afresh in the decision's
    transaction (the selfie's embedding is still there: it goes at the decision)."""
    report: Report = signals.assess_in(s, row.tenant_id, row.id,
                                       session_facts(s, protection, row, Assessment()))
    return rule_values(report, dict(row.meta or {}))


def session_changed(signals: SignalService, sessions: SessionService, s: Session,
                    event: SessionEvent) -> None:
    """Subscribed to every session event before the webhook outbox (bootstrap's table), so
    the decision's reasons in `session.decided` include the signals'."""
    row = s.get(VerificationSession, event.session_id)
    if row is None:
        return
    event_type = event.name
    if event_type == "session.erased":
        signals.erase_session(s, row.tenant_id, row.id)
        return
    if event_type in ("session.expired", "session.cancelled"):
        signals.faces.remove_session(s, row.tenant_id, row.id)
        return
    if event_type not in ("session.decided", "session.reviewed"):
        return
    result = s.get(SignalResult, row.id)
    if result is not None and row.decision is not None and result.reasons:
        sessions.add_decision_reasons(s, row, "signals", result.reasons)
    if row.status == "approved":
        s.execute(update(SignalFace).where(SignalFace.session_id == row.id,
                                           SignalFace.list == "pending")
                  .values(list="approved"))
        signals.faces.forget(row.tenant_id)
    elif row.status in FINAL_OTHER:
        signals.faces.remove_session(s, row.tenant_id, row.id)
