"""Who acts in the console: the request context its audit events carry."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Who:
    """Request context for audit events."""

    ip: str | None
    request_id: str | None
