"""Shared plumbing of the console work pages: rendering, role checks, tenants, periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape

from idproof.auth.models import Tenant
from idproof.console.review import ReviewConsole, visible_tenants
from idproof.core.errors import ValidationFailed
from idproof.operators.console import context
from idproof.operators.policy import PERMISSIONS, Action, OperatorContext, Role, can
from idproof.operators.router import HEADERS, ConsoleExit, _csrf, _who, message, signed_in
from idproof.operators.sessions import Live

_env = Environment(loader=ChoiceLoader([PackageLoader("idproof.console", "templates"),
                                        PackageLoader("idproof.operators", "templates")]),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   trim_blocks=True, lstrip_blocks=True)

NAV = [("/console/review", "Review", Action.REVIEW_DECIDE),
       ("/console/sessions", "Sessions", Action.SESSIONS_LIST),
       ("/console/dashboard", "Dashboard", Action.DASHBOARD_VIEW),
       ("/console/clients", "API clients", Action.CLIENTS_MANAGE),
       ("/console/webhooks", "Webhooks", Action.WEBHOOKS_MANAGE),
       ("/console/audit", "Audit log", Action.AUDIT_READ),
       ("/console/settings", "Settings", Action.TENANT_SETTINGS),
       ("/console/workflows", "Workflows", Action.WORKFLOWS_MANAGE),
       ("/console/screening", "Screening hits", Action.REVIEW_DECIDE),
       ("/console/alerts", "Security alerts", Action.TENANT_SETTINGS)]


def console_of(request: Request) -> ReviewConsole:
    state = request.app.state
    found = getattr(state, "review_console", None)
    if found is None:
        found = ReviewConsole(state.container)
        state.review_console = found
    return found


def page(request: Request, live: Live, template: str, *, status: int = 200,
         **ctx: Any) -> HTMLResponse:
    op = context(live, console_of(request).now())
    nav = [(href, label) for href, label, action in NAV if can(op, action)]
    html = _env.get_template(template).render(csrf=_csrf(request), role=live.role,
                                              operator_id=live.operator_id, nav=nav,
                                              request_path=request.url.path, **ctx)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def permitted(live: Live, action: Action) -> bool:
    """The operator's role includes `action` (attributes are checked per object)."""
    return action in PERMISSIONS.get(Role(live.role), frozenset())


def role_may(action: Action) -> Any:
    """Dependency: signed in (CSRF-checked) and the role includes `action`; the object's
    attributes (tenant, region, assignment, purpose, step-up) are checked per object."""
    base = signed_in(Action.CONSOLE_VIEW)

    async def dependency(request: Request) -> Live:
        live: Live = await base(request)
        if not permitted(live, action):
            request.app.state.container.console.refused(
                live, action.value, "role_not_permitted", _who(request), request.url.path)
            raise ConsoleExit(message("Not allowed", "You cannot open this page.",
                                      status=403, link="/console/",
                                      link_text="Console home"))
        return live

    return dependency


def op_of(request: Request, live: Live) -> OperatorContext:
    return context(live, console_of(request).now())


def period(start: str, end: str, now: datetime) -> tuple[datetime, datetime]:
    """A date range from form fields (YYYY-MM-DD or ISO times; default: the last 30 days)."""
    def parse(v: str, default: datetime) -> datetime:
        if not v:
            return default
        try:
            d = datetime.fromisoformat(v)
        except ValueError:
            raise ValidationFailed("dates are YYYY-MM-DD", code="invalid_date") from None
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    a = parse(start, now - timedelta(days=30))
    b = parse(end, now + timedelta(seconds=1))
    if len(end) == 10:
        b += timedelta(days=1)  # a date includes its whole day
    if a >= b:
        raise ValidationFailed("the period ends before it starts", code="invalid_date")
    return a, b


def tenants_of(request: Request, live: Live) -> dict[str, Tenant]:
    """The tenants the operator may see, by id."""
    with request.app.state.container.db.read() as s:
        return visible_tenants(s, op_of(request, live))


def tenant_ids(request: Request, live: Live, tenant: str = "") -> list[str]:
    tenants = tenants_of(request, live)
    return [t for t in tenants if tenant in ("", t, tenants[t].name)]


def chosen_tenant(request: Request, live: Live, wanted: str) -> tuple[Tenant, list[Tenant]]:
    """The tenant a tenant-scoped page works on (by name or id; default the first by name)
    and all the operator's tenants; another tenant's name ends the request with a 404."""
    tenants = sorted(tenants_of(request, live).values(), key=lambda t: t.name)
    for t in tenants:
        if wanted in (t.name, t.id) or (not wanted and t is tenants[0]):
            return t, tenants
    raise ConsoleExit(message("Not found", "There is no such tenant.", status=404,
                              link="/console/", link_text="Console home"))
