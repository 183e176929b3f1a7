"""HTTP routes of verification sessions (`/v1/sessions`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from idproof.auth.http import client_ip, get_container, request_id, require_scopes
from idproof.core.principal import Principal
from idproof.http.forms import InMemoryFormRoute
from idproof.security.uploads import MAX_BYTES as MAX_UPLOAD_BYTES
from idproof.verification.review import ReviewRequest
from idproof.verification.schemas import (
    CreatedSession,
    CreateSession,
    DecisionView,
    ReviewBody,
    ReviewResult,
    SessionPage,
    SessionView,
)
from idproof.verification.service import Actor

# Multipart bodies (document images) are parsed in memory, never spooled to disk.
router = APIRouter(prefix="/v1/sessions", tags=["sessions"], route_class=InMemoryFormRoute)

Verify = Annotated[Principal, Depends(require_scopes("identity.verify"))]
ReadStatus = Annotated[Principal, Depends(require_scopes("identity.read_status"))]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such session in your tenant (code session_not_found)"}}


def actor(request: Request, p: Principal) -> Actor:
    return Actor(tenant_id=p.tenant_id, client_id=p.client_id, ip=client_ip(request),
                 request_id=request_id(request))


@router.post("", status_code=201, response_model=CreatedSession,
             summary="Create a verification session",
             description="Returns the hosted link (`url`) to send the end user to: single use, "
                         "expiring. Send an `Idempotency-Key` header to make retries safe; a "
                         "replay answers with the same session and `Idempotent-Replayed: true`.")
async def create_session(
    request: Request, body: CreateSession, principal: Verify,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    svc = get_container(request).sessions
    view, url, replayed = await run_in_threadpool(svc.create, actor(request, principal), body,
                                                  idempotency_key)
    created = CreatedSession(**view.model_dump(), url=url)
    headers = {"Location": f"/v1/sessions/{view.id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(created.model_dump(mode="json"), status_code=201, headers=headers)


@router.get("", response_model=SessionPage, summary="List sessions (newest first)")
def list_sessions(
    request: Request, principal: ReadStatus,
    status: Annotated[str | None, Query(max_length=20)] = None,
    reference: Annotated[str | None, Query(max_length=128)] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> SessionPage:
    return get_container(request).sessions.list(
        principal.tenant_id, status=status, reference=reference, created_after=created_after,
        created_before=created_before, limit=limit, cursor=cursor)


@router.get("/{session_id}", response_model=SessionView, responses=_NOT_FOUND,
            summary="A session, with each step's state and reason codes")
def get_session(request: Request, session_id: str, principal: ReadStatus) -> SessionView:
    return get_container(request).sessions.get(principal.tenant_id, session_id)


@router.get("/{session_id}/decision", response_model=DecisionView, responses=_NOT_FOUND,
            summary="The decision: booleans and reason codes, never personal data")
def get_decision(request: Request, session_id: str, principal: ReadStatus) -> DecisionView:
    return get_container(request).sessions.decision(principal.tenant_id, session_id)


@router.post("/{session_id}/submit", response_model=SessionView,
             responses={**_NOT_FOUND, 409: {"description": "steps_missing, session_closed, "
                                                           "session_expired"}},
             summary="End capture; the decision follows when every step has a result")
def submit_session(request: Request, session_id: str, principal: Verify) -> SessionView:
    return get_container(request).captures.submit(actor(request, principal), session_id)


@router.post("/{session_id}/documents", response_model=SessionView, status_code=202,
             responses={**_NOT_FOUND,
                        409: {"description": "session_closed, session_expired"},
                        413: {"description": "upload_too_large"},
                        415: {"description": "unsupported_image_type"},
                        422: {"description": "image_corrupt, image_too_large, "
                                             "decompression_bomb, invalid_side"}},
             summary="Upload a side of the identity document (JPEG, PNG, WebP or HEIC)",
             description="The image is checked, re-encoded without metadata, encrypted at "
                         "once and queued; follow the document step's state with "
                         "`GET /v1/sessions/{id}` (a `retry` state asks for a retake).")
async def upload_document(
    request: Request, session_id: str, principal: Verify,
    side: Annotated[str, Form(description="front or back")],
    file: Annotated[UploadFile, File(description="The image")],
) -> SessionView:
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    return await run_in_threadpool(get_container(request).captures.upload_document,
                                   actor(request, principal), session_id, side, data)


@router.get("/{session_id}/data", responses=_NOT_FOUND,
            summary="The personal data read from the document (scope identity.read_pii)",
            description="Every read is on the audit log with the `purpose` you state.")
def get_data(request: Request, session_id: str,
             principal: Annotated[Principal, Depends(require_scopes("identity.read_pii"))],
             purpose: Annotated[str, Query(max_length=200)] = "") -> dict[str, object]:
    data = get_container(request).captures.read_data(actor(request, principal), session_id,
                                                     purpose)
    return {"id": session_id, **data.fields}


@router.delete("/{session_id}", status_code=204, responses=_NOT_FOUND,
               summary="Erase a session: images deleted, the person's key shredded")
def erase_session(request: Request, session_id: str,
                  principal: Annotated[Principal, Depends(require_scopes("identity.delete"))]
                  ) -> Response:
    get_container(request).captures.erase(actor(request, principal), session_id)
    return Response(status_code=204)


@router.post("/{session_id}/review", response_model=ReviewResult,
             responses={**_NOT_FOUND,
                        202: {"description": "Four eyes: recorded, waiting for a second "
                                             "reviewer (the session stays in_review)"},
                        409: {"description": "not_in_review, review_conflict (the session "
                                             "changed: If-Match no longer matches, or "
                                             "another reviewer decided), "
                                             "second_reviewer_required"},
                        422: {"description": "reasons_required, unknown_reason, "
                                             "steps_required, step_not_in_workflow, "
                                             "note_required"}},
             summary="Decide a session in review (scope identity.review)",
             description="`approved` or `declined` sets the final status and sends "
                         "`session.reviewed` and `session.decided`; `resubmit` sends the "
                         "session back to `in_progress` for the listed steps (the hosted link "
                         "in `url` can be used again) and sends `session.reviewed`.")
def review_session(
    request: Request, session_id: str, body: ReviewBody,
    principal: Annotated[Principal, Depends(require_scopes("identity.review"))],
    if_match: Annotated[str | None, Header(alias="If-Match", max_length=64)] = None,
) -> JSONResponse:
    out = get_container(request).sessions.review(
        actor(request, principal), session_id,
        ReviewRequest(body.decision, tuple(body.reasons), body.note, tuple(body.steps)),
        version=if_match.strip('"') if if_match else None)
    result = ReviewResult(id=out.session_id, status=out.status, decision=out.decision,
                          reasons=list(out.reasons), steps=list(out.steps),
                          pending_second_review=out.pending_second_review,
                          version=out.version, url=out.url)
    return JSONResponse(result.model_dump(mode="json"),
                        status_code=202 if out.pending_second_review else 200,
                        headers={"ETag": f'"{out.version}"'})
