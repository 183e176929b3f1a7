"""`/v1/subjects/{reference}`: a subject's data export and erasure (scope privacy.manage)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from idproof.auth.http import client_ip, get_container, request_id, require_scopes
from idproof.core.principal import Principal
from idproof.privacy.package import Encryption
from idproof.privacy.schemas import ErasureReceipt, ExportRequest
from idproof.verification.service import Actor

router = APIRouter(prefix="/v1/subjects", tags=["privacy"])
Manage = Annotated[Principal, Depends(require_scopes("privacy.manage"))]
Reference = Annotated[str, Path(min_length=1, max_length=128)]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No session of this reference in your tenant (subject_not_found); "
                         "the attempt is audited"}}


def _actor(request: Request, p: Principal) -> Actor:
    return Actor(tenant_id=p.tenant_id, client_id=p.client_id, ip=client_ip(request),
                 request_id=request_id(request))


@router.post("/{reference}/export", responses={
    **_NOT_FOUND, 200: {"content": {"application/octet-stream": {}},
                        "description": "The age-encrypted zip (`.zip.age`)"},
    422: {"description": "encryption_required (neither passphrase nor recipient), "
                         "invalid_recipient, passphrase_too_short, purpose_required"}},
    response_class=Response,
    summary="Everything held about a subject, encrypted (audited with the purpose)",
    description="Every session of the reference: steps and outcomes, the extracted fields "
                "decrypted, retained images, consent records, screening hits and the audit "
                "events about it (who accessed the data, and why), as `subject.json` and "
                "`summary.html` in a zip with a `manifest.json` of SHA-256 hashes, encrypted "
                "with age to the passphrase or recipient you give.")
async def export_subject(request: Request, reference: Reference, body: ExportRequest,
                         principal: Manage) -> Response:
    container = get_container(request)
    enc = Encryption(passphrase=body.passphrase.get_secret_value() if body.passphrase
                     else None, recipient=body.recipient)
    result = await run_in_threadpool(container.subjects.export, _actor(request, principal),
                                     reference, body.purpose, enc)
    return Response(result.content, media_type="application/octet-stream", headers={
        "Content-Disposition": 'attachment; filename="subject-export.zip.age"',
        "Cache-Control": "no-store", "X-Audit-Event-Id": result.audit_event_id})


@router.delete("/{reference}", response_model=ErasureReceipt, responses=_NOT_FOUND,
               summary="Erase every session of a subject; returns a receipt",
               description="Images and sealed fields deleted, face templates and consent "
                           "records removed, vault entries erased, each data key shredded. "
                           "409 `legal_hold` when a session is held (nothing is erased). "
                           "Sends `subject.erased`.")
async def erase_subject(request: Request, reference: Reference,
                        principal: Manage) -> dict[str, Any]:
    container = get_container(request)
    return await run_in_threadpool(container.subjects.erase, _actor(request, principal),
                                   reference)


@router.post("/{reference}/withdraw-consent", responses=_NOT_FOUND,
             summary="The subject withdrew consent: stop processing, erase per policy",
             description="Open sessions are cancelled (no further capture or job), the "
                         "consent records marked withdrawn, and every session erased at once "
                         "except approved ones (kept for their retention, e.g. AML record "
                         "keeping) and sessions under a legal hold. Audited.")
async def withdraw_consent(request: Request, reference: Reference,
                           principal: Manage) -> dict[str, Any]:
    container = get_container(request)
    return await run_in_threadpool(container.consents.withdraw, _actor(request, principal),
                                   reference)
