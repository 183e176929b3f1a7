"""The export's `screening_hits`: each session's screening step and the list entries it matched."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idproof.audit.models import AuditEventRow
from idproof.verification.models import SessionStep

# Screening outcomes recorded on the audit log name the matched list entries ("source:id")
# and scores, never the subject's name: those are what the subject may see.
_DETAIL_KEYS = ("hits", "best_score", "threshold", "entries", "outcome", "decision")


def screening_hits(s: Session, tenant_id: str, session_ids: list[str]) -> list[dict[str, Any]]:
    """One item per screening step of the subject's sessions and per screening event about
    them (a reviewer's decision on a hit included), oldest first."""
    if not session_ids:
        return []
    out: list[dict[str, Any]] = []
    for step in s.scalars(select(SessionStep).where(
            SessionStep.session_id.in_(session_ids), SessionStep.step == "screening")
            .order_by(SessionStep.updated_at, SessionStep.session_id)):
        facts = dict(step.facts or {})
        out.append({"session_id": step.session_id, "source": "workflow_step",
                    "state": step.state, "hit": bool(facts.get("hit", False)),
                    "reasons": list(step.reasons or []),
                    "at": step.updated_at.isoformat()})
    for ev in s.scalars(select(AuditEventRow).where(
            AuditEventRow.tenant_id == tenant_id, AuditEventRow.action.like("screening.%"),
            AuditEventRow.target_id.in_(session_ids)).order_by(AuditEventRow.idx)):
        details = {k: v for k, v in (ev.details or {}).items() if k in _DETAIL_KEYS}
        out.append({"session_id": ev.target_id, "source": "audit_event",
                    "event_id": ev.event_id, "action": ev.action, "outcome": ev.outcome,
                    "at": ev.occurred_at.isoformat(), **details})
    return out
