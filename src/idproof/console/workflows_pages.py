"""Console workflows: the list with templates, the visual builder, check, draft, publish."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, get_args
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from idproof.auth.models import Tenant
from idproof.console.forms import parse_form
from idproof.console.web import chosen_tenant, page, role_may
from idproof.console.workflow_forms import (
    WORKFLOW_ID,
    CheckBody,
    CopyForm,
    DraftForm,
    issue_text,
    issues_of,
    parse_definition_text,
    step_kinds,
)
from idproof.core.errors import IdproofError, ValidationFailed
from idproof.operators.policy import Action
from idproof.operators.router import HEADERS, ConsoleExit, message, route
from idproof.operators.sessions import Live
from idproof.workflows.catalog import builtin_workflows
from idproof.workflows.service import VersionInfo, check_flow, parse_definition
from idproof.workflows.variables import NAMESPACES, STEP_TYPES, NodeType

MANAGE = Action.WORKFLOWS_MANAGE
Who = Annotated[Live, Depends(role_may(MANAGE))]
OPERATOR = "operator"


def _base(tenant: Tenant, workflow_id: str = "") -> str:
    path = "/console/workflows" + (f"/{workflow_id}" if workflow_id else "")
    return f"{path}?tenant={quote(tenant.name)}"


def _known_id(workflow_id: str) -> str:
    if not re.fullmatch(WORKFLOW_ID, workflow_id):
        raise ConsoleExit(message("Not found", "There is no such workflow.", status=404,
                                  link="/console/workflows", link_text="Workflows"))
    return workflow_id


def _get(request: Request, tenant: Tenant, workflow_id: str, version: int | None
         ) -> VersionInfo:
    try:
        found: VersionInfo = request.app.state.container.workflows.get_version(
            tenant.id, workflow_id, version)
        return found
    except IdproofError:
        raise ConsoleExit(message("Not found", "There is no such workflow or version.",
                                  status=404, link=_base(tenant),
                                  link_text="Workflows")) from None


@route("GET", "/console/workflows", MANAGE)
def workflows_list(request: Request, live: Who, tenant: str = "") -> Response:
    chosen, tenants = chosen_tenant(request, live, tenant[:64])
    rows = request.app.state.container.workflows.list(chosen.id)
    return page(request, live, "workflows.html", tenant=chosen, tenants=tenants,
                mine=[r for r in rows if not r["template"]],
                templates=[r for r in rows if r["template"]])


@route("POST", "/console/workflows", MANAGE)
async def workflows_copy(request: Request, live: Who, tenant: str = "") -> Response:
    chosen, tenants = chosen_tenant(request, live, tenant[:64])
    svc = request.app.state.container.workflows
    try:
        body = parse_form(CopyForm, await request.form())
        source = svc.get_version(chosen.id, body.copy_from).definition
        info = svc.create(chosen.id, body.new_id, source, live.operator_id, OPERATOR)
    except IdproofError as exc:
        rows = svc.list(chosen.id)
        text = ("Nothing was created: the id is 2 to 49 lower-case letters, digits or _, "
                "starting with a letter." if exc.code == "invalid_form"
                else f"Nothing was created: {exc.detail}.")
        return page(request, live, "workflows.html", status=exc.status, tenant=chosen,
                    tenants=tenants, mine=[r for r in rows if not r["template"]],
                    templates=[r for r in rows if r["template"]], error=text)
    return RedirectResponse(_base(chosen, info.workflow_id) + f"&version={info.version}"
                            "&done=created", status_code=303, headers=HEADERS)


def _builder(request: Request, live: Live, tenant: Tenant, tenants: list[Tenant],
             info: VersionInfo, *, status: int = 200, text: str | None = None,
             issues: list[dict[str, Any]] | None = None, **ctx: Any) -> HTMLResponse:
    svc = request.app.state.container.workflows
    template = info.workflow_id in builtin_workflows()
    versions: list[dict[str, Any]] = [] if template else next(
        (r["versions"] for r in svc.list(tenant.id) if r["id"] == info.workflow_id), [])
    shown = text if text is not None else json.dumps(info.definition, indent=2)
    return page(request, live, "workflow_builder.html", status=status, tenant=tenant,
                tenants=tenants, info=info, is_template=template, versions=versions,
                definition_text=shown, base=_base(tenant, info.workflow_id),
                issues=[issue_text(i) for i in issues or []],
                kinds=step_kinds(info.definition),
                vocabulary={"types": list(get_args(NodeType)), "steps": list(STEP_TYPES),
                            "variables": {k: sorted(v.fields) for k, v in NAMESPACES.items()}},
                **ctx)


@route("GET", "/console/workflows/{workflow_id}", MANAGE)
def workflow_builder(request: Request, live: Who, workflow_id: str, tenant: str = "",
                     version: int = 0, done: str = "") -> Response:
    chosen, tenants = chosen_tenant(request, live, tenant[:64])
    info = _get(request, chosen, _known_id(workflow_id), version or None)
    notice = {"created": f"Workflow {info.workflow_id} created (version 1, a draft).",
              "saved": f"Saved as draft version {info.version}.",
              "published": f"Version {info.version} is published: new sessions use it."
              }.get(done)
    return _builder(request, live, chosen, tenants, info, notice=notice)


@route("POST", "/console/workflows/{workflow_id}/check", MANAGE)
async def workflow_check(request: Request, live: Who, workflow_id: str) -> Response:
    """The publish-time validation of an unsaved definition, for the builder's script."""
    _known_id(workflow_id)
    try:
        body = CheckBody.model_validate(await request.json())
    except (ValueError, ValidationError):
        raise ValidationFailed('send {"definition": {...}}', code="invalid_body") from None
    try:
        check_flow(parse_definition(body.definition, workflow_id, 1), publish=True)
    except IdproofError as exc:
        # The same problem+json as a refused publish, each issue with its sentence.
        raise ValidationFailed(exc.detail, code=exc.code, extra={"ok": False, "issues": [
            {**i, "text": issue_text(i)} for i in issues_of(exc)]}) from None
    return JSONResponse({"ok": True, "issues": []}, headers=HEADERS)


@route("POST", "/console/workflows/{workflow_id}/versions", MANAGE)
async def workflow_save(request: Request, live: Who, workflow_id: str, tenant: str = ""
                        ) -> Response:
    chosen, tenants = chosen_tenant(request, live, tenant[:64])
    _known_id(workflow_id)
    svc = request.app.state.container.workflows
    form = await request.form()
    text = str(form.get("definition", ""))
    try:
        body = parse_form(DraftForm, form)
        info = svc.add_version(chosen.id, workflow_id, parse_definition_text(body.definition),
                               live.operator_id, OPERATOR)
    except IdproofError as exc:
        if exc.status == 404 or workflow_id in builtin_workflows():
            raise ConsoleExit(message("Not found", "There is no such workflow of yours: "
                                      "copy a template first.", status=404,
                                      link=_base(chosen), link_text="Workflows")) from None
        latest = _get(request, chosen, workflow_id, None)
        return _builder(request, live, chosen, tenants, latest, status=422, text=text,
                        issues=issues_of(exc),
                        error="Nothing was saved: the definition has problems (below).")
    return RedirectResponse(_base(chosen, workflow_id) + f"&version={info.version}"
                            "&done=saved", status_code=303, headers=HEADERS)


@route("POST", "/console/workflows/{workflow_id}/versions/{version}/publish", MANAGE)
async def workflow_publish(request: Request, live: Who, workflow_id: str, version: int,
                           tenant: str = "") -> Response:
    chosen, tenants = chosen_tenant(request, live, tenant[:64])
    info = _get(request, chosen, _known_id(workflow_id), version)
    try:
        svc = request.app.state.container.workflows
        svc.publish(chosen.id, workflow_id, version, live.operator_id, OPERATOR)
    except IdproofError as exc:
        return _builder(request, live, chosen, tenants, info, status=exc.status,
                        issues=issues_of(exc),
                        error=f"Version {version} was not published: "
                              + ("it has problems (below)." if exc.status == 422
                                 else exc.detail + "."))
    return RedirectResponse(_base(chosen, workflow_id) + f"&version={version}"
                            "&done=published", status_code=303, headers=HEADERS)
