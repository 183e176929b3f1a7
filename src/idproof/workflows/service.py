"""Tenant workflows: create, new versions, publish, archive, resolve for sessions, simulate."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import Conflict, NotFound, ValidationFailed
from idproof.db.engine import Database
from idproof.workflows.catalog import Workflow, builtin_workflows
from idproof.workflows.flow import FlowInvalid, Outcome, compile_flow, compiled, decide_flow
from idproof.workflows.models import TenantWorkflow, WorkflowVersion
from idproof.workflows.variables import variables_doc

DRAFT, PUBLISHED, ARCHIVED = "draft", "published", "archived"
_CACHE_SIZE = 512


@dataclass(frozen=True)
class VersionInfo:
    workflow_id: str
    version: int
    status: str
    created_at: datetime
    published_at: datetime | None
    archived_at: datetime | None
    digest: str
    definition: dict[str, Any]


def _digest(definition: Mapping[str, Any]) -> str:
    raw = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def _pydantic_issues(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"code": "invalid_definition", "message": e["msg"],
             "path": ".".join(str(p) for p in e["loc"])} for e in exc.errors()]


def parse_definition(data: Mapping[str, Any], workflow_id: str, version: int) -> Workflow:
    """A definition document as a Workflow with a graph; 422 naming every problem."""
    body = {k: v for k, v in data.items() if k not in ("id", "version")}
    try:
        wf = Workflow.model_validate({**body, "id": workflow_id, "version": version})
    except ValidationError as exc:
        raise ValidationFailed("the workflow definition is not valid",
                               code="invalid_workflow",
                               extra={"issues": _pydantic_issues(exc)}) from None
    if wf.flow is None:
        raise ValidationFailed("a tenant workflow needs a flow (steps, transitions, rules)",
                               code="invalid_workflow",
                               extra={"issues": [{"code": "flow_missing", "path": "flow",
                                                  "message": "add a flow"}]})
    return wf


def check_flow(wf: Workflow, *, publish: bool) -> None:
    assert wf.flow is not None
    try:
        compile_flow(wf.flow, publish=publish)
    except FlowInvalid as exc:
        raise ValidationFailed("the workflow does not validate: " + str(exc),
                               code="workflow_invalid",
                               extra={"issues": [i.as_dict() for i in exc.issues]}) from None


class WorkflowService:
    def __init__(self, db: Database, audit: AuditService, clock: Clock | None = None) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock or SystemClock()
        # Versions never change once written: (tenant, id, version) -> Workflow.
        self._cache: OrderedDict[tuple[str, str, int], Workflow] = OrderedDict()

    # -- writes --------------------------------------------------------------------------
    def create(self, tenant_id: str, workflow_id: str, definition: Mapping[str, Any],
               actor: str | None = None, actor_type: str = "client") -> VersionInfo:
        """A new workflow with version 1 as a draft."""
        if workflow_id in builtin_workflows():
            raise Conflict("that id is a built-in template: copy it under another id",
                           code="workflow_id_reserved")
        wf = parse_definition(definition, workflow_id, 1)
        check_flow(wf, publish=False)
        now = self._clock.now()
        with self._db.session() as s:
            if s.get(TenantWorkflow, (tenant_id, workflow_id)) is not None:
                raise Conflict("a workflow with this id exists: add a version",
                               code="workflow_exists")
            s.add(TenantWorkflow(tenant_id=tenant_id, id=workflow_id, title=wf.title,
                                 latest_version=0, created_at=now, updated_at=now))
            s.flush()
            return self._add(s, tenant_id, workflow_id, wf, actor, actor_type)

    def add_version(self, tenant_id: str, workflow_id: str, definition: Mapping[str, Any],
                    actor: str | None = None, actor_type: str = "client") -> VersionInfo:
        with self._db.session() as s:
            head = self._head(s, tenant_id, workflow_id, lock=True)
            wf = parse_definition(definition, workflow_id, head.latest_version + 1)
            check_flow(wf, publish=False)
            head.title = wf.title
            return self._add(s, tenant_id, workflow_id, wf, actor, actor_type)

    def _add(self, s: Session, tenant_id: str, workflow_id: str, wf: Workflow,
             actor: str | None, actor_type: str) -> VersionInfo:
        head = self._head(s, tenant_id, workflow_id)
        head.latest_version = wf.version
        head.updated_at = self._clock.now()
        definition = export_definition(wf)
        row = WorkflowVersion(tenant_id=tenant_id, workflow_id=workflow_id,
                              version=wf.version, status=DRAFT, definition=definition,
                              digest=_digest(definition), created_at=self._clock.now())
        s.add(row)
        self._audit.record_in(s, AuditEvent(
            action="workflow.version_created", actor_type=actor_type, actor_id=actor,
            tenant_id=tenant_id, target_type="workflow", target_id=workflow_id,
            details={"version": wf.version, "digest": row.digest}))
        s.flush()
        return _info(row)

    def publish(self, tenant_id: str, workflow_id: str, version: int,
                actor: str | None = None, actor_type: str = "client") -> VersionInfo:
        with self._db.session() as s:
            row = self._version(s, tenant_id, workflow_id, version)
            if row.status != DRAFT:
                raise Conflict(f"version {version} is {row.status}: only a draft is "
                               "published", code="workflow_version_not_draft")
            wf = parse_definition(row.definition, workflow_id, version)
            check_flow(wf, publish=True)
            row.status = PUBLISHED
            row.published_at = self._clock.now()
            self._audit.record_in(s, AuditEvent(
                action="workflow.published", actor_type=actor_type, actor_id=actor,
                tenant_id=tenant_id, target_type="workflow", target_id=workflow_id,
                details={"version": version, "digest": row.digest}))
            return _info(row)

    def archive(self, tenant_id: str, workflow_id: str, version: int,
                actor: str | None = None) -> VersionInfo:
        with self._db.session() as s:
            row = self._version(s, tenant_id, workflow_id, version)
            if row.status == ARCHIVED:
                raise Conflict("already archived", code="workflow_version_archived")
            row.status = ARCHIVED
            row.archived_at = self._clock.now()
            self._audit.record_in(s, AuditEvent(
                action="workflow.archived", actor_type="client", actor_id=actor,
                tenant_id=tenant_id, target_type="workflow", target_id=workflow_id,
                details={"version": version}))
            return _info(row)

    # -- reads ---------------------------------------------------------------------------
    def list(self, tenant_id: str) -> list[dict[str, Any]]:
        with self._db.read() as s:
            heads = list(s.scalars(select(TenantWorkflow).where(
                TenantWorkflow.tenant_id == tenant_id).order_by(TenantWorkflow.id)))
            versions = list(s.scalars(select(WorkflowVersion).where(
                WorkflowVersion.tenant_id == tenant_id)))
        out: list[dict[str, Any]] = [
            {"id": wf.id, "title": wf.title, "template": True, "latest_version": wf.version,
             "published_version": wf.version, "versions": []}
            for wf in sorted(builtin_workflows().values(), key=lambda w: w.id)]
        for h in heads:
            mine = sorted((v for v in versions if v.workflow_id == h.id),
                          key=lambda v: v.version)
            published = [v.version for v in mine if v.status == PUBLISHED]
            out.append({"id": h.id, "title": h.title, "template": False,
                        "latest_version": h.latest_version,
                        "published_version": published[-1] if published else None,
                        "versions": [{"version": v.version, "status": v.status}
                                     for v in mine]})
        return out

    def get_version(self, tenant_id: str, workflow_id: str, version: int | None = None
                    ) -> VersionInfo:
        """A version (the latest when None); built-in templates answer as version 1 with
        their graph."""
        builtin = builtin_workflows().get(workflow_id)
        if builtin is not None:
            if version not in (None, builtin.version):
                raise NotFound("no such version", code="workflow_version_not_found")
            definition = export_definition(builtin.as_template())
            return VersionInfo(workflow_id, builtin.version, "template", datetime.min,
                               None, None, _digest(definition), definition)
        with self._db.read() as s:
            head = self._head(s, tenant_id, workflow_id)
            return _info(self._version(s, tenant_id, workflow_id,
                                       version or head.latest_version))

    def resolve(self, tenant_id: str, workflow_id: str, version: int | None) -> Workflow:
        """The version a new session runs: the latest published, or the one named, which
        must be published (422 with a stable code otherwise)."""
        builtin = builtin_workflows().get(workflow_id)
        if builtin is not None:
            if version not in (None, builtin.version):
                raise ValidationFailed("no such workflow version",
                                       code="workflow_version_not_found")
            return builtin
        with self._db.read() as s:
            head = s.get(TenantWorkflow, (tenant_id, workflow_id))
            if head is None:
                raise ValidationFailed("unknown workflow", code="unknown_workflow")
            if version is None:
                found = s.scalar(select(WorkflowVersion.version).where(
                    WorkflowVersion.tenant_id == tenant_id,
                    WorkflowVersion.workflow_id == workflow_id,
                    WorkflowVersion.status == PUBLISHED)
                    .order_by(WorkflowVersion.version.desc()).limit(1))
                if found is None:
                    raise ValidationFailed("the workflow has no published version",
                                           code="workflow_not_published")
                version = found
            row = s.get(WorkflowVersion, (tenant_id, workflow_id, version))
            if row is None:
                raise ValidationFailed("no such workflow version",
                                       code="workflow_version_not_found")
            if row.status != PUBLISHED:
                code = ("workflow_version_archived" if row.status == ARCHIVED
                        else "workflow_version_unpublished")
                raise ValidationFailed(f"version {version} is {row.status}", code=code)
        return self.load(tenant_id, workflow_id, version)

    def load(self, tenant_id: str, workflow_id: str, version: int,
             s: Session | None = None) -> Workflow:
        """A stored version as a Workflow (compiled and cached: versions never change);
        whatever its status, for sessions pinned to it."""
        key = (tenant_id, workflow_id, version)
        wf = self._cache.get(key)
        if wf is not None:
            self._cache.move_to_end(key)
            return wf
        if s is not None:
            row = s.get(WorkflowVersion, key)
            definition = None if row is None else dict(row.definition)
        else:
            with self._db.read() as rs:
                row = rs.get(WorkflowVersion, key)
                definition = None if row is None else dict(row.definition)
        if definition is None:
            raise NotFound("no such workflow version", code="workflow_version_not_found")
        wf = parse_definition(definition, workflow_id, version)
        assert wf.flow is not None
        compiled(wf.flow)
        self._cache[key] = wf
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return wf

    def simulate(self, tenant_id: str, workflow_id: str, version: int | None,
                 steps: Mapping[str, Mapping[str, Any]], signals: Mapping[str, Any]
                 ) -> dict[str, Any]:
        """Run a version's graph and rules on given step outcomes: the path, the decision
        and the rules that held. Drafts too: that is what a simulation is for."""
        info = self.get_version(tenant_id, workflow_id, version)
        wf = parse_definition(info.definition, workflow_id, info.version)
        check_flow(wf, publish=False)
        assert wf.flow is not None
        outcomes = {k: Outcome(str(v.get("state", "passed")), tuple(v.get("reasons", ())),
                               dict(v.get("facts", {}))) for k, v in steps.items()}
        d = decide_flow(compiled(wf.flow), outcomes, signals)
        return {"workflow": workflow_id, "version": info.version, "path": list(d.path),
                "decision": d.outcome, "reasons": list(d.reasons), "fired": list(d.fired),
                "waiting_for": d.waiting, "errors": list(d.errors)}

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def _head(s: Session, tenant_id: str, workflow_id: str, lock: bool = False
              ) -> TenantWorkflow:
        stmt = select(TenantWorkflow).where(TenantWorkflow.tenant_id == tenant_id,
                                            TenantWorkflow.id == workflow_id)
        if lock and s.bind is not None and s.bind.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        head = s.scalar(stmt)
        if head is None:
            raise NotFound("no such workflow", code="workflow_not_found")
        return head

    @staticmethod
    def _version(s: Session, tenant_id: str, workflow_id: str, version: int
                 ) -> WorkflowVersion:
        row = s.get(WorkflowVersion, (tenant_id, workflow_id, version))
        if row is None:
            raise NotFound("no such workflow version", code="workflow_version_not_found")
        return row


def export_definition(wf: Workflow) -> dict[str, Any]:
    """The definition document (what export writes and import reads)."""
    data = wf.model_dump(mode="json", exclude={"rules", "steps"}, exclude_none=True)
    return data


def _info(row: WorkflowVersion) -> VersionInfo:
    return VersionInfo(row.workflow_id, row.version, row.status, row.created_at,
                       row.published_at, row.archived_at, row.digest, dict(row.definition))


def definition_schema() -> dict[str, Any]:
    """The JSON Schema of a definition document (import, export, the API)."""
    schema = Workflow.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "idproof workflow definition"
    props = schema.get("properties", {})
    for hidden in ("rules", "steps"):
        props.pop(hidden, None)
    schema["required"] = [r for r in schema.get("required", []) if r not in ("steps",)]
    # What expressions may read (typed), the questionnaire's `answers.<id>` included.
    schema["x-variables"] = variables_doc()
    return schema
