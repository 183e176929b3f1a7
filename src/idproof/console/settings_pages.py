"""Console tenant settings: retention, review SLA and four-eyes, validated, versioned, audited."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response

from idproof.auth.models import Tenant
from idproof.console.forms import SettingsForm, failure_text, parse_form, version_of
from idproof.console.web import chosen_tenant, page, role_may
from idproof.core.errors import IdproofError
from idproof.operators.policy import Action
from idproof.operators.router import _who, route
from idproof.operators.sessions import Live
from idproof.privacy.retention import LIMITS
from idproof.verification.service import Actor

SETTINGS = Action.TENANT_SETTINGS


def current(request: Request, tenant: Tenant) -> dict[str, Any]:
    c = request.app.state.container
    review = c.sessions.review_settings(tenant.id)
    return {**c.retention.policy(tenant.id).as_dict(), "sla_hours": review.sla_hours,
            "four_eyes": bool(review.four_eyes)}


def _page(request: Request, live: Live, tenant: str, *, status: int = 200,
          shown: dict[str, Any] | None = None, **ctx: Any) -> HTMLResponse:
    chosen, tenants = chosen_tenant(request, live, tenant)
    values = current(request, chosen)
    return page(request, live, "settings.html", status=status, tenant=chosen,
                tenants=tenants, values=shown or values, version=version_of(values),
                limits=LIMITS, **ctx)


@route("GET", "/console/settings", SETTINGS)
def settings_page(request: Request, live: Annotated[Live, Depends(role_may(SETTINGS))],
                  tenant: str = "") -> Response:
    return _page(request, live, tenant[:64])


@route("POST", "/console/settings", SETTINGS)
async def settings_save(request: Request, live: Annotated[Live, Depends(role_may(SETTINGS))],
                        tenant: str = "") -> Response:
    chosen, _ = chosen_tenant(request, live, tenant[:64])
    c = request.app.state.container
    try:
        body = parse_form(SettingsForm, await request.form())
    except IdproofError as exc:
        return _page(request, live, chosen.name, status=422,
                     error="Nothing was saved. " + failure_text(exc, {}))
    before = current(request, chosen)
    if not hmac.compare_digest(body.version, version_of(before)):
        return _page(request, live, chosen.name, status=409,
                     error="Someone changed these settings since you opened the page. "
                           "Nothing was saved; the current values are shown.")
    retention = {k: getattr(body, k) for k in LIMITS}
    who = _who(request)
    try:
        if retention != {k: before[k] for k in LIMITS}:
            c.retention.set_policy(chosen.name, retention, actor=live.operator_id)
        if (body.sla_hours, body.four_eyes) != (before["sla_hours"], before["four_eyes"]):
            c.sessions.set_review_settings(
                Actor(tenant_id=chosen.id, client_id=live.operator_id, ip=who.ip,
                      request_id=who.request_id, actor_type="operator"),
                sla_hours=body.sla_hours, four_eyes=body.four_eyes)
    except IdproofError:
        return _page(request, live, chosen.name, status=422,
                     error="Nothing was saved: a value is outside its allowed range.")
    return _page(request, live, chosen.name, notice="Settings saved.")
