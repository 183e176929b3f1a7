"""HTTP routes of signals: record a session's IP and device, read its signals."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from idproof.auth.http import get_container, require_scopes
from idproof.core.principal import Principal
from idproof.db.tenancy import get_owned
from idproof.signals.device import DeviceAttributes
from idproof.signals.hosted_routes import router as hosted_router
from idproof.signals.rules import Report
from idproof.signals.service import Assessment
from idproof.signals.sessions import session_facts
from idproof.verification.models import VerificationSession

router = APIRouter(tags=["signals"])
router.include_router(hosted_router)  # POST /verify/s/device, /sdk/device-post.js
_DEVICE_JS = (Path(__file__).parent / "static" / "device.js").read_bytes()
Verify = Annotated[Principal, Depends(require_scopes("identity.verify"))]
ReadStatus = Annotated[Principal, Depends(require_scopes("identity.read_status"))]
Review = Annotated[Principal, Depends(require_scopes("identity.review"))]


class SignalsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ip: str | None = Field(None, max_length=45, description="The end user's IP address")
    device: DeviceAttributes | None = Field(
        None, description="The attributes the web SDK collected (see docs/api/signals.md)")

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError("not an IP address") from None


class SignalsOut(BaseModel):
    reasons: list[str] = Field(description="Reason codes: ip_datacenter, ip_vpn, ip_tor, "
                                           "ip_country_mismatch, device_reused, "
                                           "automation_suspected, emulator_suspected, "
                                           "velocity_exceeded, face_duplicate, face_blocklisted")
    signals: dict[str, Any] = Field(description="Each named signal and its evidence")


def _out(report: Report) -> SignalsOut:
    return SignalsOut(reasons=report.reasons, signals=report.signals)


def _assess(request: Request, tenant_id: str, session_id: str, body: SignalsIn) -> Report:
    c = get_container(request)
    with c.db.read() as s:
        row = get_owned(s, VerificationSession, session_id, tenant_id,
                        code="session_not_found")
        facts = session_facts(s, c.protection, row, Assessment(ip=body.ip, device=body.device))
    return c.signals.assess(tenant_id, row.id, facts)


@router.post("/v1/sessions/{session_id}/signals", response_model=SignalsOut,
             summary="Record the end user's IP and device for a session; its signals")
async def post_signals(request: Request, session_id: str, body: SignalsIn,
                       principal: Verify) -> SignalsOut:
    report = await run_in_threadpool(_assess, request, principal.tenant_id, session_id[:64],
                                     body)
    return _out(report)


@router.get("/v1/sessions/{session_id}/signals", response_model=SignalsOut,
            summary="A session's fraud signals and reason codes")
async def get_signals(request: Request, session_id: str, principal: ReadStatus) -> SignalsOut:
    svc = get_container(request).signals
    report = await run_in_threadpool(svc.result, principal.tenant_id, session_id[:64])
    return _out(report)


class BlocklistedOut(BaseModel):
    face_id: str = Field(description="The blocklisted face (its embedding stays sealed)")


@router.post("/v1/sessions/{session_id}/face-blocklist", response_model=BlocklistedOut,
             status_code=201,
             summary="Blocklist the face of a session: later look-alikes are face_blocklisted")
async def blocklist_face(request: Request, session_id: str, principal: Review
                         ) -> BlocklistedOut:
    c = get_container(request)

    def run() -> str:
        with c.db.read() as s:
            row = get_owned(s, VerificationSession, session_id[:64], principal.tenant_id,
                            code="session_not_found")
        return c.signals.faces.blocklist_session(principal.tenant_id, row.id,
                                                 actor_type="client",
                                                 actor_id=principal.client_id)

    return BlocklistedOut(face_id=await run_in_threadpool(run))


@router.get("/sdk/device.js", include_in_schema=False)
def device_js() -> Response:
    """The collector of the device attributes (static, same for everyone)."""
    return Response(_DEVICE_JS, media_type="text/javascript; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=3600",
                             "X-Content-Type-Options": "nosniff"})
