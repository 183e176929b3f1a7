"""A session's decision and its reason codes, written together (the one writer of both)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from idproof.verification.models import SessionReason, VerificationSession


def set_decision(s: Session, row: VerificationSession, decision: dict[str, Any] | None) -> None:
    """Set `row.decision` and make `session_reasons` list exactly its reasons (the console
    filters by reason through that table's index, not by searching the JSON)."""
    row.decision = decision
    wanted = list(dict.fromkeys(str(r) for r in (decision or {}).get("reasons", [])))
    s.flush()  # the session row exists before reason rows point at it
    s.execute(delete(SessionReason).where(SessionReason.session_id == row.id))
    if wanted:  # Core statements: a second call in one transaction meets no identity map
        s.execute(insert(SessionReason), [
            {"session_id": row.id, "reason": r[:64], "tenant_id": row.tenant_id,
             "created_at": row.created_at} for r in wanted])
