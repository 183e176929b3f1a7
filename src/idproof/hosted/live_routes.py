"""The hosted flow's JSON endpoints: the status poll, the pose probe, the liveness challenge
and frames."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from idproof.auth.http import client_ip, request_id
from idproof.core.errors import Conflict, Forbidden, Unauthorized, ValidationFailed
from idproof.hosted.pages import browser_of, origin_ok
from idproof.hosted.service import Browser, HostedService
from idproof.http.forms import InMemoryFormRoute
from idproof.security.uploads import MAX_BYTES

MAX_FRAMES = 40

router = APIRouter(include_in_schema=False, route_class=InMemoryFormRoute)


@router.get("/verify/s/status")
async def status(request: Request) -> JSONResponse:
    found = await run_in_threadpool(browser_of, request)
    if found is None:
        raise Unauthorized("open the verification link again", code="hosted_session_required")
    svc, browser, _cookie_value = found
    actor = svc.actor(browser, client_ip(request), request_id(request))
    state = await run_in_threadpool(svc.advance, browser, actor)
    processing = any(st.state == "processing" for st in state.view.steps)
    watching = await run_in_threadpool(svc.handoffs.watching, browser.id)
    return JSONResponse({"session_id": state.view.id, "status": state.view.status,
                         "page": state.page.name, "processing": processing,
                         "handed_off": watching},
                        headers={"Cache-Control": "no-store"})



def _json_guard(request: Request, token: str | None) -> tuple[HostedService, Browser, str]:
    found = browser_of(request)
    if found is None:
        raise Unauthorized("open the verification link again", code="hosted_session_required")
    svc, browser, cookie = found
    if not origin_ok(request) or not svc.check_csrf(cookie, token):
        svc.record_csrf_failure(browser, client_ip(request), request_id(request))
        raise Forbidden("the CSRF token is missing or wrong", code="csrf_failed")
    if svc.handoffs.watching(browser.id):
        raise Conflict("this verification continues on another device", code="handed_off")
    return found


@router.post("/verify/s/challenge")
async def challenge(request: Request,
                    x_csrf_token: Annotated[str | None, Header()] = None) -> JSONResponse:
    svc, browser, _cookie_value = await run_in_threadpool(_json_guard, request, x_csrf_token)
    actor = svc.actor(browser, client_ip(request), request_id(request))
    view = await run_in_threadpool(svc.issue_challenge, browser, actor)
    expires = getattr(view, "expires_at", None)
    return JSONResponse({"challenge_id": view.challenge_id, "actions": list(view.actions),
                         "expires_at": expires.isoformat() if expires else None},
                        headers={"Cache-Control": "no-store"})


@router.post("/verify/s/liveness")
async def liveness(request: Request,
                   challenge_id: Annotated[str, Form(max_length=64)],
                   timestamps: Annotated[str, Form(max_length=2000)],
                   frames: Annotated[list[UploadFile], File()],
                   x_csrf_token: Annotated[str | None, Header()] = None) -> JSONResponse:
    svc, browser, _cookie_value = await run_in_threadpool(_json_guard, request, x_csrf_token)
    if not 1 <= len(frames) <= MAX_FRAMES:
        raise ValidationFailed(f"send 1 to {MAX_FRAMES} frames", code="invalid_frames")
    try:
        stamps = [int(x) for x in json.loads(timestamps)]
    except (ValueError, TypeError):
        raise ValidationFailed("timestamps must be a JSON list of integers",
                               code="invalid_timestamps") from None
    data = [await f.read(MAX_BYTES + 1) for f in frames]
    actor = svc.actor(browser, client_ip(request), request_id(request))
    await run_in_threadpool(svc.submit_liveness, browser, actor, challenge_id, data, stamps)
    state = await run_in_threadpool(svc.advance, browser, actor)
    return JSONResponse({"session_id": state.view.id, "status": state.view.status,
                         "page": state.page.name}, headers={"Cache-Control": "no-store"})


class PoseBaseline(BaseModel):
    """The neutral pose an earlier probe answer gave (`pose`), sent back with later frames."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    yaw: float = Field(ge=-2, le=2)
    pitch: float = Field(ge=0, le=2)
    ear: float = Field(ge=0, le=2)


def _baseline(raw: str | None) -> tuple[float, float, float] | None:
    if not raw:
        return None
    try:
        b = PoseBaseline.model_validate_json(raw)
    except ValidationError:
        raise ValidationFailed("baseline must be the JSON pose of an earlier answer",
                               code="invalid_baseline") from None
    return b.yaw, b.pitch, b.ear


@router.post("/verify/s/pose")
async def pose(request: Request, frame: Annotated[UploadFile, File()],
               action: Annotated[str | None, Form(max_length=32)] = None,
               baseline: Annotated[str | None, Form(max_length=200)] = None,
               x_csrf_token: Annotated[str | None, Header()] = None) -> JSONResponse:
    """Is the face in one small frame centred, and is the asked pose reached? Feedback for
    the selfie framing and the liveness ticks only: it decides nothing, and the frame is
    processed in memory and dropped (never stored, logged or audited)."""
    svc, browser, _cookie_value = await run_in_threadpool(_json_guard, request, x_csrf_token)
    base = _baseline(baseline)
    data = await frame.read(MAX_BYTES + 1)
    actor = svc.actor(browser, client_ip(request), request_id(request))
    feedback = await run_in_threadpool(svc.probe_pose, browser, actor, data, action or None,
                                       base)
    del data
    return JSONResponse(feedback.to_json(), headers={"Cache-Control": "no-store"})
