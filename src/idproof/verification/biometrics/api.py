"""HTTP routes of selfies and liveness (`/v1/sessions/{id}/selfie`, `/liveness...`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from idproof.auth.http import get_container, require_scopes
from idproof.core.errors import ValidationFailed
from idproof.core.principal import Principal
from idproof.http.forms import parse_form_in_memory
from idproof.security.uploads import MAX_BYTES as MAX_UPLOAD_BYTES
from idproof.verification.api import actor
from idproof.verification.biometrics.imaging import FRAME_MAX_BYTES
from idproof.verification.biometrics.liveness import MAX_FRAMES
from idproof.verification.biometrics.service import ChallengeView
from idproof.verification.schemas import SessionView

router = APIRouter(prefix="/v1/sessions", tags=["biometrics"])

Verify = Annotated[Principal, Depends(require_scopes("identity.verify"))]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such session in your tenant (code session_not_found)"}}
_TIMESTAMPS = TypeAdapter(list[int])


async def _form(request: Request, max_files: int) -> FormData:
    # In memory: biometric uploads must never touch the disk (see idproof.http.forms).
    form = await parse_form_in_memory(request, max_files=max_files, max_fields=10)
    if form is None:
        raise ValidationFailed("send multipart/form-data", code="invalid_form")
    return form


async def _read(part: object, limit: int, field: str) -> bytes:
    if not isinstance(part, UploadFile):
        raise ValidationFailed(f"`{field}` must be a file", code="invalid_form")
    data = await part.read(limit + 1)
    await part.close()
    return data


def _multipart(fields: dict[str, dict[str, object]], required: list[str]
               ) -> dict[str, object]:
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "properties": fields, "required": required}}}}}


@router.post("/{session_id}/selfie", response_model=SessionView,
             responses={**_NOT_FOUND,
                        409: {"description": "step_complete, session_closed, "
                                             "session_expired"},
                        413: {"description": "upload_too_large"},
                        415: {"description": "unsupported_image_type"},
                        422: {"description": "image_corrupt, image_too_large, "
                                             "decompression_bomb, step_not_in_workflow"}},
             openapi_extra=_multipart({"file": {"type": "string", "format": "binary"}},
                                      ["file"]),
             summary="Upload a selfie: compared with the document portrait",
             description="Processed in memory during the request and never stored. The "
                         "selfie step's state and reason codes (`no_face`, `multiple_faces`, "
                         "`face_too_small`, `low_quality`, `face_mismatch`, "
                         "`presentation_attack_suspected`) are in the answer; `retry` asks "
                         "for a retake; `processing` means the document's front is not there "
                         "yet and the match happens at submit.")
async def upload_selfie(request: Request, session_id: str, principal: Verify) -> SessionView:
    form = await _form(request, max_files=1)
    data = await _read(form.get("file"), MAX_UPLOAD_BYTES, "file")
    await form.close()
    return await run_in_threadpool(get_container(request).biometrics.submit_selfie,
                                   actor(request, principal), session_id, data)


@router.post("/{session_id}/liveness/challenge", response_model=ChallengeView,
             status_code=201, responses=_NOT_FOUND,
             summary="Ask for a liveness challenge: 2-3 actions to perform in order",
             description="Actions come from `turn_left`, `turn_right`, `look_up`, `blink` "
                         "(left and right are the person's own). Answer once, before "
                         "`expires_at`, with `POST /v1/sessions/{id}/liveness`.")
def create_challenge(request: Request, session_id: str, principal: Verify) -> ChallengeView:
    return get_container(request).biometrics.issue_challenge(actor(request, principal),
                                                             session_id)


@router.post("/{session_id}/liveness", response_model=SessionView,
             responses={**_NOT_FOUND,
                        409: {"description": "challenge_replayed, challenge_expired, "
                                             "reference_required, step_complete, "
                                             "session_closed"},
                        413: {"description": "upload_too_large"},
                        415: {"description": "unsupported_image_type (frames are JPEG)"},
                        422: {"description": "invalid_frame_count, invalid_timestamps, "
                                             "image_corrupt, decompression_bomb"}},
             openapi_extra=_multipart({
                 "challenge_id": {"type": "string"},
                 "frames": {"type": "array", "items": {"type": "string", "format": "binary"}},
                 "timestamps": {"type": "string",
                                "description": "JSON array of integers (milliseconds)"}},
                 ["challenge_id", "frames", "timestamps"]),
             summary="Answer a liveness challenge with 10-40 JPEG frames",
             description="`frames`: the JPEG frames in capture order (repeat the field); "
                         "`timestamps`: a JSON array of capture times in milliseconds, one "
                         "per frame (Unix epoch milliseconds, or relative to the first "
                         "frame). Frames are processed in memory and never stored; the "
                         "liveness step records `liveness_passed` and `liveness_failed`.")
async def answer_challenge(request: Request, session_id: str, principal: Verify
                           ) -> SessionView:
    form = await _form(request, max_files=MAX_FRAMES + 1)
    challenge_id = form.get("challenge_id")
    timestamps = form.get("timestamps")
    if not isinstance(challenge_id, str) or not 1 <= len(challenge_id) <= 60:
        raise ValidationFailed("challenge_id is required", code="invalid_challenge_id")
    try:
        if not isinstance(timestamps, str) or len(timestamps) > 2000:
            raise ValueError
        stamps = _TIMESTAMPS.validate_python(json.loads(timestamps))
    except (ValueError, ValidationError):
        raise ValidationFailed("timestamps must be a JSON array of integers (milliseconds)",
                               code="invalid_timestamps") from None
    parts = form.getlist("frames")
    if len(parts) > MAX_FRAMES:
        raise ValidationFailed(f"send at most {MAX_FRAMES} frames", code="invalid_frame_count")
    data = [await _read(p, FRAME_MAX_BYTES, "frames") for p in parts]
    await form.close()
    return await run_in_threadpool(get_container(request).biometrics.submit_liveness,
                                   actor(request, principal), session_id, challenge_id, data,
                                   stamps)
