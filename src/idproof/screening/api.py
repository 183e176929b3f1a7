"""HTTP routes of screening: `POST /v1/screening/search` (scope screening.search)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from idproof.auth.http import client_ip, get_container, request_id, require_scopes
from idproof.core.errors import ValidationFailed
from idproof.core.principal import Principal
from idproof.screening.countries import alpha2
from idproof.screening.normalize import MAX_NAME_CHARS, has_control_chars, tokens

router = APIRouter(prefix="/v1/screening", tags=["screening"])
Search = Annotated[Principal, Depends(require_scopes("screening.search"))]


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS,
                      description="The name to check, in any script")
    birth_date: date | None = Field(None, description="YYYY-MM-DD")
    country: str | None = Field(None, pattern=r"^[A-Za-z]{2,3}$",
                                description="Nationality, ISO 3166 alpha-2 or alpha-3")

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        # The messages never repeat the value: it is personal data.
        if has_control_chars(value):
            raise ValueError("the name holds control characters")
        if not tokens(value):
            raise ValueError("the name holds no letters or digits")
        return value


class HitOut(BaseModel):
    score: float = Field(ge=0, le=1)
    source: str = Field(description="ofac, un, eu, uk or opensanctions")
    entry_id: str = Field(description="The list's own id of the entry (e.g. the SDN uid)")
    name: str = Field(description="The listed name or alias that matched")
    explanation: str


class SearchOut(BaseModel):
    hits: list[HitOut]


class ScreeningMatchData(BaseModel):
    """The `screening.match` webhook's data: ids, list and score, never a name."""

    hit_id: str = Field(description="The review case (`hit_…`)")
    session_id: str
    source: str = Field(description="ofac, un, eu, uk or opensanctions")
    entry_id: str = Field(description="The list's own id of the entry")
    score: float = Field(ge=0, le=1)
    snapshot_id: str = Field(description="The list snapshot that raised it")
    origin: str = Field(description="`monitoring` (after a list import) or `step`")
    status: str = Field(description="`open` until a reviewer confirms or dismisses it")


@router.post("/search", summary="Screen a name against the active sanctions and PEP lists",
             response_model=SearchOut)
async def search(request: Request, body: SearchIn, principal: Search) -> SearchOut:
    country = None
    if body.country:
        country = alpha2(body.country)
        if country is None:
            raise ValidationFailed("unknown country code", code="country_unknown")
    svc = get_container(request).screening
    hits = await run_in_threadpool(
        svc.search, principal.tenant_id, body.name, body.birth_date, country,
        actor_id=principal.client_id, ip=client_ip(request), request_id=request_id(request))
    return SearchOut(hits=[HitOut(score=h.score, source=h.source, entry_id=h.entry_id,
                                  name=h.name, explanation=h.explanation) for h in hits])
