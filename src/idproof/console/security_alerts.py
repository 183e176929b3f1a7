"""Console page of open security alerts: list them, acknowledge one with a note."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from idproof.audit.events import AuditEvent
from idproof.audit.models import AuditEventRow
from idproof.console.alert_models import SecurityAlertAck
from idproof.console.review import visible_tenants
from idproof.console.web import console_of, op_of, page, role_may
from idproof.operators.policy import Action, OperatorContext
from idproof.operators.router import HEADERS, ConsoleExit, _who, message, route
from idproof.operators.sessions import Live

# Tenant admins and owners: the people an alert e-mail goes to.
ACTION = Action.TENANT_SETTINGS
LIMIT = 200


def _visible(request: Request, op: OperatorContext) -> tuple[dict[str, str], bool]:
    """Names of the tenants the operator sees, and whether it sees platform alerts."""
    with request.app.state.container.db.read() as s:
        names = {t.id: t.name for t in visible_tenants(s, op).values()}
    return names, op.tenants is None and op.regions is None


def open_alerts(request: Request, op: OperatorContext) -> list[dict[str, Any]]:
    names, platform = _visible(request, op)
    with request.app.state.container.db.read() as s:
        acked = select(SecurityAlertAck.event_id)
        rows = s.scalars(select(AuditEventRow).where(
            AuditEventRow.action == "security.alert",
            AuditEventRow.event_id.not_in(acked)).order_by(AuditEventRow.idx.desc())
            .limit(LIMIT * 5))
        out = []
        for r in rows:
            if (r.tenant_id in names) or (r.tenant_id is None and platform):
                details = {k: v for k, v in (r.details or {}).items() if k != "kind"}
                out.append({"id": r.event_id, "kind": (r.details or {}).get("kind", "?"),
                            "at": r.occurred_at, "tenant": names.get(r.tenant_id or "",
                                                                     "(platform)"),
                            "ip": r.ip, "details": details})
        return out[:LIMIT]


@route("GET", "/console/alerts", ACTION)
def alerts_page(request: Request,
                live: Annotated[Live, Depends(role_may(ACTION))]) -> Response:
    alerts = open_alerts(request, op_of(request, live))
    return page(request, live, "security_alerts.html", alerts=alerts)


@route("POST", "/console/alerts/{event_id}/ack", ACTION)
def acknowledge(request: Request, event_id: str,
                live: Annotated[Live, Depends(role_may(ACTION))],
                note: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Acknowledge an open alert the operator may see; the note stays out of the audit log."""
    if not any(a["id"] == event_id for a in open_alerts(request, op_of(request, live))):
        raise ConsoleExit(message("Not found", "There is no such open alert.", status=404,
                                  link="/console/alerts", link_text="Alerts"))
    container = request.app.state.container
    who = _who(request)
    with container.db.session() as s:
        s.add(SecurityAlertAck(event_id=event_id, operator_id=live.operator_id,
                               note=note.strip(), acknowledged_at=console_of(request).now()))
        container.audit.record_in(s, AuditEvent(
            action="security.alert_acknowledged", actor_type="operator",
            actor_id=live.operator_id, target_type="audit_event", target_id=event_id,
            ip=who.ip, request_id=who.request_id, details={"with_note": bool(note.strip())}))
    return RedirectResponse("/console/alerts", status_code=303, headers=HEADERS)
