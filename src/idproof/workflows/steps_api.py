"""HTTP routes of the e-mail, phone and questionnaire steps (`/v1/sessions/{id}/steps/...`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from idproof.auth.http import client_ip, get_container, request_id, require_scopes
from idproof.core.principal import Principal
from idproof.verification.service import Actor
from idproof.workflows.steps.service import ContactSteps

router = APIRouter(prefix="/v1/sessions/{session_id}/steps", tags=["sessions"])
Verify = Annotated[Principal, Depends(require_scopes("identity.verify"))]


class EmailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(min_length=3, max_length=254)


class PhoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=3, max_length=32, description="E.164, e.g. +4915123456789")


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=12)


class AnswersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answers: dict[str, str | bool | None] = Field(max_length=60)


def _svc(request: Request) -> ContactSteps:
    svc: ContactSteps = get_container(request).contact_steps
    return svc


def _actor(request: Request, p: Principal) -> Actor:
    return Actor(tenant_id=p.tenant_id, client_id=p.client_id, ip=client_ip(request),
                 request_id=request_id(request))


@router.post("/email", summary="Send a one-time code to the person's e-mail address")
async def send_email(request: Request, session_id: str, body: EmailIn, p: Verify
                     ) -> dict[str, Any]:
    return await run_in_threadpool(_svc(request).send, _actor(request, p), session_id,
                                   "email", body.address)


@router.post("/phone", summary="Send a one-time code by SMS to the person's phone")
async def send_phone(request: Request, session_id: str, body: PhoneIn, p: Verify
                     ) -> dict[str, Any]:
    return await run_in_threadpool(_svc(request).send, _actor(request, p), session_id,
                                   "phone", body.number)


@router.post("/email/confirm", summary="Confirm the e-mail step with the code received")
def confirm_email(request: Request, session_id: str, body: CodeIn, p: Verify
                  ) -> dict[str, Any]:
    return _svc(request).confirm(_actor(request, p), session_id, "email", body.code)


@router.post("/phone/confirm", summary="Confirm the phone step with the code received")
def confirm_phone(request: Request, session_id: str, body: CodeIn, p: Verify
                  ) -> dict[str, Any]:
    return _svc(request).confirm(_actor(request, p), session_id, "phone", body.code)


@router.post("/questionnaire", summary="Answer the workflow's questionnaire")
def answer(request: Request, session_id: str, body: AnswersIn, p: Verify) -> dict[str, Any]:
    return _svc(request).answer(_actor(request, p), session_id, body.answers)


@router.post("/screening", summary="Screen the document holder against the imported lists")
def screen(request: Request, session_id: str, p: Verify) -> dict[str, Any]:
    return get_container(request).screening_step.run(_actor(request, p), session_id)
