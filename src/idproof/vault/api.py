"""HTTP routes of the vault: `POST /v1/vault/detokenize` (scope vault.detokenize, a purpose)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from idproof.auth.http import client_ip, get_container, request_id, require_scopes
from idproof.core.principal import Principal
from idproof.vault.service import Caller
from idproof.vault.tokens import MAX_PURPOSE, TOKEN_PATTERN

router = APIRouter(prefix="/v1/vault", tags=["vault"])


class DetokenizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(pattern=f"^{TOKEN_PATTERN}$", max_length=64,
                       description="A token returned by idproof, e.g. tok_passport_number_...")
    purpose: str = Field(max_length=MAX_PURPOSE + 50,
                         description="Why the value is needed; recorded in the audit log. "
                                     "Must not be empty and must not contain personal data.")


class DetokenizeResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str
    kind: str
    value: str


@router.post(
    "/detokenize", summary="Reveal the value behind a token (audited, with a purpose)",
    description="Requires the scope `vault.detokenize`. Every call is an audit event with the "
                "stated purpose. Tokens of other tenants answer 404 like unknown ones; tokens "
                "whose data subject was erased answer 410 `token_erased`. Rate limited per "
                "client (429 `rate_limited` with Retry-After).",
    responses={404: {"description": "token_not_found"}, 410: {"description": "token_erased"},
               422: {"description": "purpose_required, invalid_purpose, validation_failed"},
               429: {"description": "rate_limited"}},
)
async def detokenize(
    body: DetokenizeRequest, request: Request,
    principal: Annotated[Principal, Depends(require_scopes("vault.detokenize"))],
) -> DetokenizeResponse:
    vault = get_container(request).vault
    caller = Caller(principal.client_id, client_ip(request), request_id(request))
    out = await run_in_threadpool(vault.detokenize, principal.tenant_id, body.token,
                                  body.purpose, caller)
    return DetokenizeResponse(token=out.token, kind=out.kind, value=out.value)
