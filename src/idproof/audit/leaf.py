"""What an audit event's Merkle leaf commits to: its fields, as canonical JSON, and their hash."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from idproof.audit.canonical import canonical_json
from idproof.audit.merkle import leaf_hash

# The leaf is the canonical JSON of exactly these keys, every one always present (null when
# unset). An export line and an API event are this object plus `index` and `leaf_hash`, so
# anyone can recompute the leaf hash from what they were given (tools/verify_audit_proof.py).
# The index is deliberately not in the leaf: the tree's position commits to it.
LEAF_FIELDS: tuple[str, ...] = (
    "actor_type", "actor_id", "tenant_id", "action", "target_type", "target_id", "outcome",
    "ip", "request_id", "purpose", "occurred_at", "details",
)
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# Exactly these types (not subclasses such as IntEnum, which JSON turns into plain values)
# survive a JSON round trip unchanged. Floats do not always (NaN is refused).
_PLAIN = frozenset({str, int, bool, type(None)})


class EventLike(Protocol):
    """The attributes of a stored event row (or anything shaped like one)."""

    actor_type: str
    actor_id: str | None
    tenant_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    ip: str | None
    request_id: str | None
    purpose: str | None
    occurred_at: datetime
    details: dict[str, Any]


def format_time(value: datetime) -> str:
    """ISO-8601 UTC with exactly six fractional digits and a `Z`: one spelling per instant."""
    if value.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    # isoformat, not strftime: glibc's %Y does not zero-pad years below 1000.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    """Inverse of `format_time` (strict: other spellings of the same instant are refused)."""
    value = datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)
    if format_time(value) != text:
        raise ValueError(f"{text!r} is not a canonical audit time")
    return value


def normalize_details(details: dict[str, Any]) -> dict[str, Any]:
    """`details` as a JSON round trip gives it back: what both databases will store and return.

    Hashing the normalized value (not the caller's) is what makes a leaf recomputable from the
    stored row: tuples become lists, and NaN, infinities or non-JSON values are refused here
    instead of being stored in a form nobody could hash again. Details of strings, integers,
    booleans, nulls and lists of those (nearly every event's) come back as they are, copied
    without the round trip: for them it is the identity.
    """
    if all(type(k) is str and (type(v) in _PLAIN or (type(v) is list and all(
            type(i) in _PLAIN for i in v))) for k, v in details.items()):
        return {k: (list(v) if type(v) is list else v) for k, v in details.items()}
    normalized = json.loads(canonical_json(details))
    if not isinstance(normalized, dict):
        raise TypeError("audit details must be a JSON object")
    return normalized


def leaf_fields(event: EventLike) -> dict[str, Any]:
    """The object a leaf commits to, from a stored row or a row about to be stored."""
    fields = {name: getattr(event, name) for name in LEAF_FIELDS}
    fields["occurred_at"] = format_time(fields["occurred_at"])
    return fields


def leaf_fields_from_values(values: Sequence[Any]) -> dict[str, Any]:
    """`leaf_fields` of a row selected as the columns named in LEAF_FIELDS, in that order."""
    fields = dict(zip(LEAF_FIELDS, values, strict=True))
    fields["occurred_at"] = format_time(fields["occurred_at"])
    return fields


def event_leaf_hash(fields: dict[str, Any]) -> bytes:
    """RFC 6962 leaf hash of an event's fields: SHA-256(0x00 || canonical JSON)."""
    return leaf_hash(canonical_json(fields))
