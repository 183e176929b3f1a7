"""HTTP routes of the audit log (scope audit.read): checkpoint, proofs, the tenant's events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from idproof.auth.http import get_container, require_scopes
from idproof.core.errors import NotFound, ValidationFailed
from idproof.core.principal import Principal

router = APIRouter(prefix="/v1/audit", tags=["audit"])
Reader = Annotated[Principal, Depends(require_scopes("audit.read"))]
_MAX_INDEX = (1 << 63) - 1  # BIGINT: larger values are not an index, and the driver refuses them
_B64 = "standard base64 (RFC 4648 §4), as in checkpoints"


class InclusionProofOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(description="the event's index (leaf number, from 0)")
    tree_size: int = Field(description="the tree size the proof is for")
    leaf_hash: str = Field(description=f"SHA-256(0x00 || canonical JSON of the event), {_B64}")
    proof: list[str] = Field(description=f"RFC 6962 audit path, nearest the leaf first, {_B64}")


class ConsistencyProofOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first: int
    second: int
    proof: list[str] = Field(description=f"RFC 6962 consistency proof, {_B64}")


class AuditEventOut(BaseModel):
    """An event: the fields its leaf commits to, plus its index and leaf hash."""

    model_config = ConfigDict(extra="forbid")

    index: int
    leaf_hash: str
    occurred_at: str = Field(description="ISO-8601 UTC with microseconds, e.g. "
                                         "2026-01-02T03:04:05.000006Z")
    actor_type: str
    actor_id: str | None
    tenant_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    ip: str | None
    request_id: str | None
    purpose: str | None
    details: dict[str, object]


class AuditEventStatusOut(AuditEventOut):
    """One event by id: pending (recorded, not yet in the Merkle tree) or integrated."""

    id: str = Field(description="the event's id (aev_...)")
    status: Literal["pending", "integrated"] = Field(
        description="pending: recorded and durable, not yet numbered; its index and proofs "
                    "exist once integrated (normally within a second)")
    index: int | None = Field(description="the event's index; null while pending")  # type: ignore[assignment]


class AuditEventPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[AuditEventOut]
    next_after: int | None = Field(description="pass as `after` for the next page; null at the "
                                               "end")


def _utc(value: datetime | None) -> datetime | None:
    # A time without a zone is read as UTC, the zone of every audit time.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@router.get(
    "/checkpoint", summary="The latest signed checkpoint of the audit log",
    description="A C2SP signed note (https://c2sp.org/tlog-checkpoint): origin line, tree size, "
                "base64 root hash, blank line, Ed25519 signature line. Verify it with the log's "
                "public key (`idproof audit public-key`, obtained out of band). 404 "
                "`no_checkpoint` before the first checkpoint.",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}, 404: {"description": "no_checkpoint"}},
)
async def checkpoint(request: Request, _: Reader) -> PlainTextResponse:
    latest = await run_in_threadpool(get_container(request).audit_log.latest_checkpoint)
    if latest is None:
        raise NotFound("no checkpoint has been made yet", code="no_checkpoint")
    return PlainTextResponse(latest.note, media_type="text/plain; charset=utf-8",
                             headers={"Cache-Control": "no-cache"})


@router.get(
    "/proof/inclusion", summary="Prove that one of your events is in the log",
    description="RFC 6962 inclusion proof of event `index` in the tree of `tree_size` events "
                "(default: the latest checkpoint's size). Only the caller's tenant's events: "
                "others answer 404 `event_not_found`. 422 `index_not_in_tree` when tree_size "
                "<= index, `tree_size_beyond_log` when the log is smaller; 404 "
                "`not_yet_checkpointed` without tree_size when no checkpoint covers the event.",
    responses={404: {"description": "event_not_found, not_yet_checkpointed"},
               422: {"description": "index_not_in_tree, tree_size_beyond_log, "
                                    "validation_failed"}},
)
async def inclusion(
    request: Request, principal: Reader,
    index: Annotated[int, Query(ge=0, le=_MAX_INDEX, description="the event's index")],
    tree_size: Annotated[int | None, Query(ge=1, le=_MAX_INDEX,
                                           description="a checkpoint's tree size")] = None,
) -> InclusionProofOut:
    proof = await run_in_threadpool(get_container(request).audit_log.inclusion, index, tree_size,
                                    tenant_id=principal.tenant_id)
    return InclusionProofOut(**proof.as_json())


@router.get(
    "/proof/consistency", summary="Prove that a later tree extends an earlier one",
    description="RFC 6962 consistency proof from tree size `first` to `second` (default: the "
                "latest checkpoint's size), 0 < first <= second <= the log's size. 422 "
                "`invalid_tree_sizes` or `tree_size_beyond_log` otherwise.",
    responses={404: {"description": "no_checkpoint"},
               422: {"description": "invalid_tree_sizes, tree_size_beyond_log, "
                                    "validation_failed"}},
)
async def consistency(
    request: Request, _: Reader,
    first: Annotated[int, Query(ge=1, le=_MAX_INDEX)],
    second: Annotated[int | None, Query(ge=1, le=_MAX_INDEX)] = None,
) -> ConsistencyProofOut:
    proof = await run_in_threadpool(get_container(request).audit_log.consistency, first, second)
    return ConsistencyProofOut(**proof.as_json())


@router.get(
    "/events", summary="Your tenant's audit events, oldest first",
    description="Paged by index: pass the response's `next_after` as `after`. Filter by exact "
                "`action` and by time (`since` inclusive, `until` exclusive; ISO-8601, UTC when "
                "no zone is given). Each event carries its `index` and `leaf_hash`, so it can be "
                "checked with an inclusion proof.",
    responses={422: {"description": "invalid_time_range, validation_failed"}},
)
async def events(
    request: Request, principal: Reader,
    after: Annotated[int | None, Query(ge=0, le=_MAX_INDEX,
                                       description="only events with a larger index")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    action: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
) -> AuditEventPage:
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and since >= until:
        raise ValidationFailed("since must be before until", code="invalid_time_range")
    rows = await run_in_threadpool(
        get_container(request).audit_log.events, tenant_id=principal.tenant_id, after=after,
        limit=limit, action=action, since=since, until=until)
    next_after = rows[-1]["index"] if len(rows) == limit else None
    return AuditEventPage(events=[AuditEventOut(**r) for r in rows], next_after=next_after)


@router.get(
    "/events/{event_id}", summary="One of your audit events by id, pending or integrated",
    description="An event is recorded (durably) with the request that caused it and integrated "
                "into the Merkle tree by the log's sequencer shortly after. Until then it is "
                "`pending`: its fields and leaf hash are known, its `index` is null and no "
                "proof covers it. Another tenant's event answers 404 `event_not_found`.",
    responses={404: {"description": "event_not_found"}},
)
async def event(request: Request, principal: Reader,
                event_id: Annotated[str, Path(min_length=1, max_length=40,
                                              pattern=r"^[A-Za-z0-9_]+$")]
                ) -> AuditEventStatusOut:
    row = await run_in_threadpool(get_container(request).audit_log.event, event_id,
                                  tenant_id=principal.tenant_id)
    return AuditEventStatusOut(**row)
