"""HTTP routes of tenant workflows (`/v1/workflows`), scope workflows.manage."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from idproof.auth.http import get_container, require_scopes
from idproof.core.errors import ValidationFailed
from idproof.core.principal import Principal
from idproof.workflows.diff import diff_definitions
from idproof.workflows.service import VersionInfo, definition_schema

router = APIRouter(prefix="/v1/workflows", tags=["workflows"])
Manage = Annotated[Principal, Depends(require_scopes("workflows.manage"))]
_ID = r"^[a-z][a-z0-9_]{1,48}$"


class CreateWorkflow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_ID)
    definition: dict[str, Any] | None = None
    copy_from: str | None = Field(None, pattern=_ID,
                                  description="A built-in template or one of your workflows")


class StepOutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: str = Field("passed", pattern=r"^(passed|failed|pending|processing|retry)$")
    reasons: list[str] = Field(default_factory=list, max_length=50)
    facts: dict[str, bool | int | float | str] = Field(default_factory=dict)


class Simulate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(None, ge=1)
    steps: dict[str, StepOutcomeIn] = Field(default_factory=dict)
    signals: dict[str, bool | int | float | str | list[str]] = Field(default_factory=dict)


def _out(info: VersionInfo) -> dict[str, Any]:
    data = asdict(info)
    data["workflow"] = data.pop("workflow_id")
    if info.status == "template":
        data["created_at"] = None
    return data


@router.get("/schema", summary="The JSON Schema of a workflow definition")
def schema() -> dict[str, Any]:
    return definition_schema()


@router.get("", summary="Your workflows and the built-in templates")
def list_workflows(request: Request, principal: Manage) -> dict[str, Any]:
    return {"data": get_container(request).workflows.list(principal.tenant_id)}


@router.post("", status_code=201, summary="Create a workflow (version 1, a draft)")
def create_workflow(request: Request, body: CreateWorkflow, principal: Manage
                    ) -> dict[str, Any]:
    svc = get_container(request).workflows
    definition = body.definition
    if definition is None:
        if body.copy_from is None:
            raise ValidationFailed("give a definition or copy_from", code="definition_missing")
        definition = svc.get_version(principal.tenant_id, body.copy_from).definition
    return _out(svc.create(principal.tenant_id, body.id, definition, principal.client_id))


@router.post("/{workflow_id}/versions", status_code=201,
             summary="Add a version (a draft): versions never change once written")
def add_version(request: Request, workflow_id: str, principal: Manage,
                definition: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    return _out(get_container(request).workflows.add_version(
        principal.tenant_id, workflow_id, definition, principal.client_id))


@router.get("/{workflow_id}", summary="The latest version of a workflow")
def get_latest(request: Request, workflow_id: str, principal: Manage) -> dict[str, Any]:
    return _out(get_container(request).workflows.get_version(principal.tenant_id,
                                                             workflow_id))


@router.get("/{workflow_id}/versions/{version}", summary="One version")
def get_version(request: Request, workflow_id: str, version: int, principal: Manage
                ) -> dict[str, Any]:
    return _out(get_container(request).workflows.get_version(principal.tenant_id,
                                                             workflow_id, version))


@router.get("/{workflow_id}/diff", summary="What changed between two versions")
def diff(request: Request, workflow_id: str, principal: Manage,
         a: Annotated[int, Query(alias="from", ge=1)],
         b: Annotated[int, Query(alias="to", ge=1)]) -> dict[str, Any]:
    svc = get_container(request).workflows
    before = svc.get_version(principal.tenant_id, workflow_id, a)
    after = svc.get_version(principal.tenant_id, workflow_id, b)
    return {"workflow": workflow_id, "from": a, "to": b,
            "changes": [asdict(c) for c in diff_definitions(before.definition,
                                                            after.definition)]}


@router.post("/{workflow_id}/versions/{version}/publish",
             summary="Validate and publish a draft (422 workflow_invalid with the issues)")
def publish(request: Request, workflow_id: str, version: int, principal: Manage
            ) -> dict[str, Any]:
    return _out(get_container(request).workflows.publish(
        principal.tenant_id, workflow_id, version, principal.client_id))


@router.post("/{workflow_id}/versions/{version}/archive",
             summary="Archive a version: no new session may use it")
def archive(request: Request, workflow_id: str, version: int, principal: Manage
            ) -> dict[str, Any]:
    return _out(get_container(request).workflows.archive(
        principal.tenant_id, workflow_id, version, principal.client_id))


@router.post("/{workflow_id}/simulate",
             summary="Run the rules on given step outcomes: the path, decision, rules fired")
def simulate(request: Request, workflow_id: str, body: Simulate, principal: Manage
             ) -> dict[str, Any]:
    return get_container(request).workflows.simulate(
        principal.tenant_id, workflow_id, body.version,
        {k: v.model_dump() for k, v in body.steps.items()}, body.signals)
