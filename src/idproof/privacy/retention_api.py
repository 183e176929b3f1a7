"""`/v1/privacy/retention`: the calling client's tenant's retention policy and region (scope
privacy.manage), read and changed over the API as the CLI and the console do."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator
from starlette.concurrency import run_in_threadpool

from idproof.auth.http import get_container, require_scopes
from idproof.auth.tenants import TenantService
from idproof.core.principal import Principal
from idproof.privacy.purge import RetentionService
from idproof.privacy.retention import DEFAULT, LIMITS, Policy

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])
Manage = Annotated[Principal, Depends(require_scopes("privacy.manage"))]


def _field(name: str) -> Any:
    lim = LIMITS[name]
    return Field(None, description=f"{lim.low} to {lim.high} {lim.unit} (default "
                                    f"{getattr(DEFAULT, name)})")


class RetentionChange(BaseModel):
    """The settings to change; the others keep their value. Every change is audited."""

    model_config = ConfigDict(extra="forbid")

    raw_images_hours: StrictInt | None = _field("raw_images_hours")
    extracted_fields_days: StrictInt | None = _field("extracted_fields_days")
    unsuccessful_days: StrictInt | None = _field("unsuccessful_days")
    face_templates_hours: StrictInt | None = _field("face_templates_hours")

    @model_validator(mode="after")
    def _one_at_least(self) -> RetentionChange:
        if not self.model_dump(exclude_none=True):
            raise ValueError("give at least one setting to change")
        return self


class RetentionView(BaseModel):
    tenant: str
    region: str | None = Field(description="Where the tenant's data lives (residency)")
    retention: dict[str, int] = Field(description="The policy in force")
    defaults: dict[str, int]
    limits: dict[str, dict[str, int | str]]


def _view(tenants: TenantService, retention: RetentionService, tenant_name: str,
          policy: Policy | None = None) -> RetentionView:
    tenant = tenants.get(tenant_name)
    policy = policy or retention.policy(tenant.id)
    return RetentionView(
        tenant=tenant.name, region=tenant.region, retention=policy.as_dict(),
        defaults=DEFAULT.as_dict(),
        limits={k: {"min": v.low, "max": v.high, "unit": v.unit} for k, v in LIMITS.items()})


@router.get("/retention", response_model=RetentionView,
            summary="Your tenant's retention policy (defaults where unset) and region")
async def get_retention(request: Request, principal: Manage) -> RetentionView:
    c = get_container(request)
    return await run_in_threadpool(_view, c.tenants, c.retention, principal.tenant_name)


@router.put("/retention", response_model=RetentionView, responses={
    422: {"description": "invalid_retention (out of its range), an unknown field, or none"}},
    summary="Change your tenant's retention policy (audited: privacy.retention_changed)",
    description="Raw images apply to decisions made after the change; the daily purge "
                "applies the others. Ranges: see `limits` in the answer of GET.")
async def put_retention(request: Request, body: RetentionChange,
                        principal: Manage) -> RetentionView:
    container = get_container(request)
    changes = body.model_dump(exclude_none=True)  # whole numbers (strict: no "1", no true)

    def change() -> RetentionView:
        policy = container.retention.set_policy(principal.tenant_name, changes,
                                                actor=principal.client_id,
                                                actor_type="client")
        return _view(container.tenants, container.retention, principal.tenant_name, policy)

    return await run_in_threadpool(change)
