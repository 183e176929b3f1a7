"""`GET /v1/analytics/summary` (scope analytics.read): the dashboard's figures as JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from idproof.auth.http import get_container, require_scopes
from idproof.console.analytics import summary
from idproof.core.principal import Principal

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])


@router.get("/summary", summary="Sessions started, completed, approved, declined, in review, "
                                "abandoned; funnel by step; top reasons; times to decision; "
                                "review backlog and SLA breaches (no personal data)")
def analytics_summary(
    request: Request,
    principal: Annotated[Principal, Depends(require_scopes("analytics.read"))],
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    c = get_container(request)
    now = c.clock.now()
    b = end or now + timedelta(seconds=1)
    a = start or b - timedelta(days=30)
    a, b = (x if x.tzinfo else x.replace(tzinfo=UTC) for x in (a, b))
    with c.db.read() as s:
        return summary(s, [principal.tenant_id], a, b, now)
