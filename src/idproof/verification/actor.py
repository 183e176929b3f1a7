"""Who acts on a session: an API client of a tenant, an operator, the system, the person."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: an API client of a tenant (or the system), or the end user in the
    hosted flow (actor_type "end_user", client_id then names their browser session)."""

    tenant_id: str
    client_id: str | None = None
    ip: str | None = None
    request_id: str | None = None
    actor_type: str = "client"
