"""Console workflow tools: the simulator (step outcomes in, path and decision out) and diffs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import Response

from idproof.console.forms import parse_form
from idproof.console.web import chosen_tenant, page
from idproof.console.workflow_forms import SimulateForm, simulation_input, step_kinds
from idproof.console.workflows_pages import MANAGE, Who, _base, _builder, _get, _known_id
from idproof.core.errors import IdproofError
from idproof.operators.router import route
from idproof.workflows.diff import diff_definitions


@route("POST", "/console/workflows/{workflow_id}/simulate", MANAGE)
async def workflow_simulate(request: Request, live: Who, workflow_id: str, tenant: str = ""
                            ) -> Response:
    """Run a stored version (a draft too) on the outcomes filled in; nothing is stored."""
    chosen, tenants = chosen_tenant(request, live, tenant[:64])
    _known_id(workflow_id)
    form = await request.form()
    sim_values = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    try:
        body = parse_form(SimulateForm, form)
    except IdproofError:
        info = _get(request, chosen, workflow_id, None)
        return _builder(request, live, chosen, tenants, info, status=422,
                        sim_values=sim_values,
                        error="The simulator form is not valid: a state is passed, failed "
                              "or pending, and the version a number.")
    version = int(body.model_dump()["version"])
    info = _get(request, chosen, workflow_id, version)
    try:
        steps, signals = simulation_input(body, step_kinds(info.definition))
        result: dict[str, Any] = request.app.state.container.workflows.simulate(
            chosen.id, workflow_id, version, steps, signals)
    except IdproofError as exc:
        return _builder(request, live, chosen, tenants, info, status=422,
                        sim_values=sim_values, error=f"Not simulated: {exc.detail}.")
    return _builder(request, live, chosen, tenants, info, simulation=result,
                    sim_values=sim_values)


@route("GET", "/console/workflows/{workflow_id}/diff", MANAGE)
def workflow_diff(request: Request, live: Who, workflow_id: str, tenant: str = "",
                  a: Annotated[int, Query(alias="from", ge=0)] = 0,
                  b: Annotated[int, Query(alias="to", ge=0)] = 0) -> Response:
    """What changed from version `a` to version `b` (the last two by default)."""
    chosen, tenants = chosen_tenant(request, live, tenant[:64])
    latest = _get(request, chosen, _known_id(workflow_id), None)
    b = b or latest.version
    a = a or max(1, b - 1)
    before = _get(request, chosen, workflow_id, a)
    after = _get(request, chosen, workflow_id, b)
    changes = diff_definitions(before.definition, after.definition)
    return page(request, live, "workflow_diff.html", tenant=chosen, tenants=tenants,
                workflow_id=workflow_id, a=a, b=b, latest=latest.version,
                changes=changes, base=_base(chosen, workflow_id))
