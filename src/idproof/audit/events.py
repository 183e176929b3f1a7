"""The audit event value: who did what to which target, with what outcome (never PII values)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Keys allowed in `details`: short codes and identifiers only, never personal data or secrets.
_MAX_DETAIL_VALUE = 200


@dataclass(frozen=True, slots=True)
class AuditEvent:
    action: str
    outcome: str = "success"
    actor_type: str = "system"
    actor_id: str | None = None
    tenant_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    ip: str | None = None
    request_id: str | None = None
    purpose: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime | None = None

    def __post_init__(self) -> None:
        for key, value in self.details.items():
            if not isinstance(value, str | int | float | bool | list | type(None)):
                raise TypeError(f"audit detail {key!r} must be a scalar or list")
            if isinstance(value, str) and len(value) > _MAX_DETAIL_VALUE:
                raise ValueError(f"audit detail {key!r} is too long")
