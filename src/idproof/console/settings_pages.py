"""Console tenant settings: retention, review SLA and four-eyes, accepted documents,
validated, versioned (compare-and-set in one transaction) and audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from idproof.console.forms import SettingsForm, failure_text, parse_form, version_of
from idproof.console.tenant_settings import current, save
from idproof.console.web import chosen_tenant, page, role_may
from idproof.core.errors import Conflict, IdproofError
from idproof.operators.policy import Action
from idproof.operators.router import _who, route
from idproof.operators.sessions import Live
from idproof.privacy.retention import LIMITS
from idproof.verification.document.accepted import DOCUMENT_TYPES
from idproof.verification.service import Actor

SETTINGS = Action.TENANT_SETTINGS
CONFLICT = ("Someone changed these settings since you opened the page. Nothing was saved; "
            "the current values are shown.")


def _failure(exc: IdproofError) -> str:
    """What the page says of a refused save (unknown codes are shown: codes, not data)."""
    unknown = ", ".join((getattr(exc, "extra", None) or {}).get("unknown", []))
    texts = {
        "unknown_country": f"unknown issuing country code ({unknown}). Use ISO 3166-1 alpha-3 "
                           "codes, as in a passport's machine-readable zone (DEU, FRA, USA).",
        "unknown_document_type": f"unknown document type ({unknown}).",
        "invalid_retention": "a value is outside its allowed range.",
        "invalid_sla": "a value is outside its allowed range.",
    }
    return "Nothing was saved: " + texts[exc.code] if exc.code in texts else \
        "Nothing was saved. " + failure_text(exc, {})


def _page(request: Request, live: Live, tenant: str, *, status: int = 200,
          **ctx: Any) -> HTMLResponse:
    chosen, tenants = chosen_tenant(request, live, tenant)
    values = current(request.app.state.container, chosen.id)
    return page(request, live, "settings.html", status=status, tenant=chosen,
                tenants=tenants, values=values, version=version_of(values),
                limits=LIMITS, document_types=DOCUMENT_TYPES, **ctx)


@route("GET", "/console/settings", SETTINGS)
def settings_page(request: Request, live: Annotated[Live, Depends(role_may(SETTINGS))],
                  tenant: str = "") -> Response:
    return _page(request, live, tenant[:64])


@route("POST", "/console/settings", SETTINGS)
async def settings_save(request: Request, live: Annotated[Live, Depends(role_may(SETTINGS))],
                        tenant: str = "") -> Response:
    chosen, _ = chosen_tenant(request, live, tenant[:64])
    who = _who(request)
    actor = Actor(tenant_id=chosen.id, client_id=live.operator_id, ip=who.ip,
                  request_id=who.request_id, actor_type="operator")
    try:
        body = parse_form(SettingsForm, await request.form())
        await run_in_threadpool(save, request.app.state.container, chosen, body, actor)
    except Conflict:
        return _page(request, live, chosen.name, status=409, error=CONFLICT)
    except IdproofError as exc:
        return _page(request, live, chosen.name, status=422, error=_failure(exc))
    return _page(request, live, chosen.name, notice="Settings saved.")
