"""Retention policies: the documented defaults, their limits, and when a session is due (pure)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from idproof.core.errors import ValidationFailed

# Sessions that ended without a verified person: kept for `unsuccessful_days`.
UNSUCCESSFUL = frozenset({"declined", "expired", "abandoned", "cancelled"})
# Sessions that are purged at all: only ended ones (in_review, processing, in_progress and
# not_started are never purged; they expire or are decided first).
PURGEABLE = UNSUCCESSFUL | {"approved"}


@dataclass(frozen=True, slots=True)
class Limit:
    low: int
    high: int
    unit: str


LIMITS: dict[str, Limit] = {
    # Raw images after the decision: none by default, 30 days at most.
    "raw_images_hours": Limit(0, 30 * 24, "hours"),
    # Approved sessions (extracted fields): 5 years by default (AML record keeping), from
    # 30 days to 10 years.
    "extracted_fields_days": Limit(30, 3650, "days"),
    # Declined, expired, abandoned and cancelled sessions: 30 days by default.
    "unsuccessful_days": Limit(1, 3650, "days"),
    # Sealed face templates after the decision: 0 (at the decision) to 30 days.
    "face_templates_hours": Limit(0, 30 * 24, "hours"),
}


@dataclass(frozen=True, slots=True)
class Policy:
    raw_images_hours: int = 0
    extracted_fields_days: int = 5 * 365
    unsuccessful_days: int = 30
    face_templates_hours: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


DEFAULT = Policy()


def validated(policy: Policy) -> Policy:
    for name, value in policy.as_dict().items():
        lim = LIMITS[name]
        if not isinstance(value, int) or not lim.low <= value <= lim.high:
            raise ValidationFailed(f"{name} must be {lim.low} to {lim.high} {lim.unit}",
                                   code="invalid_retention")
    return policy


def session_due(policy: Policy, status: str, ended_at: datetime, now: datetime) -> str | None:
    """Why a session that ended at `ended_at` is to be purged now, or None to keep it."""
    if status not in PURGEABLE:
        return None
    if status in UNSUCCESSFUL:
        return "unsuccessful" if now >= ended_at + timedelta(days=policy.unsuccessful_days) \
            else None
    return "extracted_fields" if now >= ended_at + timedelta(
        days=policy.extracted_fields_days) else None


def template_due(policy: Policy, decided_at: datetime, now: datetime) -> bool:
    return now >= decided_at + timedelta(hours=policy.face_templates_hours)
