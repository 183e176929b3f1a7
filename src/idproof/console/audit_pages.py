"""Console audit pages: filtered log, proofs verified on the server, JSONL export, checkpoints."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from idproof.audit.events import AuditEvent
from idproof.console.audit_view import (
    PAGE_SIZE,
    AuditFilters,
    ProofCheck,
    browser_proofs,
    check_consistency,
    check_inclusion,
    checkpoints,
    event_page,
    event_query,
    export_lines,
)
from idproof.console.web import console_of, op_of, page, period, permitted, role_may, tenant_ids
from idproof.core.errors import IdproofError, ValidationFailed
from idproof.operators.policy import Action
from idproof.operators.router import HEADERS, _who, message, route, signed_in
from idproof.operators.sessions import Live

EXPORT_MAX = 100_000
_MAX_INDEX = (1 << 63) - 1


def _scope(request: Request, live: Live, tenant: str) -> list[str] | None:
    """The tenants whose events the operator reads; None: all (system events too)."""
    if op_of(request, live).tenants is None and op_of(request, live).regions is None \
            and not tenant:
        return None
    return tenant_ids(request, live, tenant)


def _filters(request: Request, raw: dict[str, str]) -> AuditFilters:
    a, b = (period(raw["from"], raw["to"], console_of(request).now())
            if raw["from"] or raw["to"] else (None, None))
    return AuditFilters(actor=raw["actor"], action=raw["action"], subject=raw["subject"],
                        start=a, end=b)


def _raw(actor: str, action: str, subject: str, start: str, end: str,
         tenant: str) -> dict[str, str]:
    return {"actor": actor[:64].strip(), "action": action[:64].strip(),
            "subject": subject[:64].strip(), "from": start[:32], "to": end[:32],
            "tenant": tenant[:64]}


def _log_page(request: Request, live: Live, raw: dict[str, str], before: int | None, *,
              check: ProofCheck | None = None, status: int = 200) -> HTMLResponse:
    query = urlencode({k: v for k, v in raw.items() if v})
    try:
        stmt = event_query(_scope(request, live, raw["tenant"]), _filters(request, raw),
                           before)
        with request.app.state.container.db.read() as s:
            events, nxt = event_page(s, stmt)
    except IdproofError:
        return page(request, live, "audit.html", status=422, events=[], next_before=None,
                    filters=raw, query=query, error="A filter is not valid.", check=check)
    return page(request, live, "audit.html", status=status, events=events, next_before=nxt,
                filters=raw, query=query, check=check,
                browser_check=permitted(live, Action.PROOFS_READ))


@route("GET", "/console/audit", Action.AUDIT_READ)
def audit_log(request: Request, live: Annotated[Live, Depends(role_may(Action.AUDIT_READ))],
              actor: str = "", action: str = "", subject: str = "",
              start: str = Query("", alias="from"), end: str = Query("", alias="to"),
              tenant: str = "",
              before: Annotated[int | None, Query(ge=0, le=_MAX_INDEX)] = None) -> Response:
    return _log_page(request, live, _raw(actor, action, subject, start, end, tenant), before)


@route("GET", "/console/audit/verify", Action.PROOFS_READ)
def audit_verify(request: Request,
                 live: Annotated[Live, Depends(role_may(Action.PROOFS_READ))],
                 index: Annotated[int, Query(ge=0, le=_MAX_INDEX)],
                 actor: str = "", action: str = "", subject: str = "",
                 start: str = Query("", alias="from"), end: str = Query("", alias="to"),
                 tenant: str = "") -> Response:
    """An event's inclusion proof against the latest signed checkpoint, checked here."""
    raw = _raw(actor, action, subject, start, end, tenant)
    c = request.app.state.container
    try:
        with c.db.read() as s:
            check = check_inclusion(c.audit_log, s, index, _scope(request, live, ""))
    except IdproofError:
        return message("Not found", "There is no such audit event.", status=404,
                       link="/console/audit", link_text="Audit log")
    return _log_page(request, live, raw, None, check=check)


class ProofsQuery(BaseModel):
    """The shown events' indexes (one page at most), from `?indexes=12,11,10`."""

    model_config = ConfigDict(extra="forbid")
    indexes: list[Annotated[int, Field(ge=0, le=_MAX_INDEX)]] = Field(
        min_length=1, max_length=PAGE_SIZE)


@route("GET", "/console/audit/proofs", Action.PROOFS_READ)
def audit_proofs(request: Request,
                 live: Annotated[Live, Depends(role_may(Action.PROOFS_READ))],
                 indexes: Annotated[str, Query(max_length=PAGE_SIZE * 20)] = ""
                 ) -> Response:
    """JSON for the page's script: the latest signed checkpoint, the log's verifier keys and
    each shown event's recomputed leaf hash and inclusion proof, checked in the browser."""
    try:
        wanted = ProofsQuery.model_validate({"indexes": indexes.split(",")}).indexes
    except ValidationError:
        raise ValidationFailed(f"indexes: 1 to {PAGE_SIZE} event indexes, comma-separated",
                               code="invalid_indexes") from None
    c = request.app.state.container
    with c.db.read() as s:
        body = browser_proofs(c.audit_log, s, wanted, _scope(request, live, ""))
    return JSONResponse(body, headers={**HEADERS,
                                       "Cross-Origin-Resource-Policy": "same-origin"})


@route("GET", "/console/audit/checkpoints", Action.PROOFS_READ)
def audit_checkpoints(request: Request,
                      live: Annotated[Live, Depends(role_may(Action.PROOFS_READ))],
                      first: Annotated[int | None, Query(ge=1, le=_MAX_INDEX)] = None,
                      second: Annotated[int | None, Query(ge=1, le=_MAX_INDEX)] = None
                      ) -> Response:
    c = request.app.state.container
    check: ProofCheck | None = None
    status, error = 200, None
    with c.db.read() as s:
        if first is not None and second is not None:
            try:
                check = check_consistency(c.audit_log, s, first, second)
            except IdproofError:
                status, error = 422, "Choose two checkpoints, the older one first."
        rows = checkpoints(c.audit_log, s)
    return page(request, live, "audit_checkpoints.html", status=status, rows=rows,
                check=check, error=error, first=first, second=second,
                public_key=c.audit_log.public_key())


@route("GET", "/console/audit/export.jsonl", Action.AUDIT_EXPORT)
def audit_export(request: Request,
                 live: Annotated[Live, Depends(signed_in(Action.AUDIT_EXPORT))],
                 actor: str = "", action: str = "", subject: str = "",
                 start: str = Query("", alias="from"), end: str = Query("", alias="to"),
                 tenant: str = "") -> Response:
    """The filtered events as JSON lines, oldest first, each with its index and leaf hash."""
    raw = _raw(actor, action, subject, start, end, tenant)
    try:
        stmt = event_query(_scope(request, live, raw["tenant"]), _filters(request, raw))
        with request.app.state.container.db.read() as s:
            lines = [json.dumps(e, sort_keys=True, separators=(",", ":"))
                     for e in export_lines(s, stmt, EXPORT_MAX)]
    except IdproofError:
        return message("Not exported", "A filter is not valid.", status=422,
                       link="/console/audit", link_text="Audit log")
    who = _who(request)
    details: dict[str, Any] = {"rows": len(lines),
                               "filters": sorted(k for k, v in raw.items() if v)}
    console_of(request).record(AuditEvent(
        action="audit.exported", actor_type="operator", actor_id=live.operator_id,
        ip=who.ip, request_id=who.request_id, details=details))
    body = "".join(line + "\n" for line in lines)
    return Response(body, media_type="application/x-ndjson",
                    headers={**HEADERS,
                             "Content-Disposition": 'attachment; filename="audit.jsonl"'})
