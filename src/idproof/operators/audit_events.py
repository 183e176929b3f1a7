"""Audit events of operator accounts and sign-in (actor type `operator`; never an email)."""

from __future__ import annotations

from typing import Any

from idproof.audit.events import AuditEvent


def operator_event(action: str, *, actor_id: str | None, target_id: str | None = None,
                   outcome: str = "success", ip: str | None = None,
                   request_id: str | None = None, **details: Any) -> AuditEvent:
    return AuditEvent(action=action, outcome=outcome, actor_type="operator", actor_id=actor_id,
                      target_type="operator" if target_id else None, target_id=target_id,
                      ip=ip, request_id=request_id,
                      details={k: v for k, v in details.items() if v is not None})
