"""Request and response models of the sessions API (Pydantic, extra fields forbidden)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from idproof.core.errors import ValidationFailed

Reference = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@/+-]+$",
                                 description="Your own opaque id for the user (not personal "
                                             "data: no names or e-mail addresses)")]

MAX_METADATA_KEYS = 20
# The languages of the hosted pages. A session's `locale` must be one of them (a region, as in
# `fr-CA`, is accepted and ignored): anything else is refused, never silently replaced.
SUPPORTED_LOCALES: tuple[str, ...] = ("en", "fr", "de", "es", "it", "pt", "nl", "pl")


class CreateSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow: str = Field("kyc_standard", pattern=r"^[a-z][a-z0-9_]{1,48}$")
    version: int | None = Field(None, ge=1, le=1_000_000,
                                description="A published version of the workflow; the "
                                            "latest published one when omitted")
    reference: Reference
    callback_url: str | None = Field(None, max_length=2048,
                                     description="Where the end user goes when done (https)")
    expires_in: int = Field(86_400, ge=300, le=30 * 86_400, description="Seconds")
    locale: str | None = Field(
        None, pattern=r"^[a-z]{2}(-[A-Z]{2})?$",
        description="The hosted pages' language: " + ", ".join(SUPPORTED_LOCALES)
                    + " (a region such as fr-CA is accepted). Any other is refused with 422 "
                      "unsupported_locale. Without it, the browser's Accept-Language.")
    metadata: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict, description="Small, non-personal key/values echoed back")

    @field_validator("metadata")
    @classmethod
    def _small(cls, v: dict[str, Any]) -> dict[str, Any]:
        if len(v) > MAX_METADATA_KEYS:
            raise ValueError(f"at most {MAX_METADATA_KEYS} keys")
        for k, val in v.items():
            if not 1 <= len(k) <= 40:
                raise ValueError("keys are 1 to 40 characters")
            if isinstance(val, str) and len(val) > 200:
                raise ValueError("string values are at most 200 characters")
        return v

    @field_validator("locale")
    @classmethod
    def _supported(cls, v: str | None) -> str | None:
        if v is not None and v.split("-", 1)[0] not in SUPPORTED_LOCALES:
            # Not a ValueError: a 422 with its own code and the list, not a generic one.
            raise ValidationFailed(
                f"locale {v!r} is not supported; use one of {', '.join(SUPPORTED_LOCALES)}",
                code="unsupported_locale", extra={"supported": list(SUPPORTED_LOCALES)})
        return v

    @field_validator("callback_url")
    @classmethod
    def _https(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from urllib.parse import urlsplit

        parts = urlsplit(v)
        local = parts.hostname in {"localhost", "127.0.0.1", "::1"}
        if parts.scheme != "https" and not (parts.scheme == "http" and local):
            raise ValueError("callback_url must be https")
        if not parts.hostname or parts.username or parts.password:
            raise ValueError("callback_url must be a plain https URL")
        return v


class StepView(BaseModel):
    step: str
    state: str
    reasons: list[str]
    attempts: int


class SessionView(BaseModel):
    id: str
    status: str
    workflow: str
    workflow_version: int
    reference: str
    locale: str | None
    metadata: dict[str, Any]
    steps: list[StepView]
    created_at: datetime
    expires_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None


class CreatedSession(SessionView):
    url: str = Field(description="The hosted link: single use, expiring")


class SessionPage(BaseModel):
    data: list[SessionView]
    next_cursor: str | None


class DecisionView(BaseModel):
    id: str
    status: str
    decided: bool
    is_verified: bool
    document_valid: bool | None
    age_over_18: bool | None = None
    face_match: bool | None = None
    liveness_passed: bool | None = None
    minimum_age: int
    age_over_minimum: bool | None
    reasons: list[str]
    decided_at: datetime | None


class ReviewBody(BaseModel):
    """A reviewer's decision on a session in review."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approved", "declined", "resubmit"]
    reasons: list[str] = Field(default_factory=list, max_length=10,
                               description="Reason codes from the review catalogue; at "
                                           "least one for a decline")
    note: str = Field(default="", max_length=2000,
                      description="Free text for your records (audit log only; never in "
                                  "webhooks)")
    steps: list[str] = Field(default_factory=list, max_length=10,
                             description="For `resubmit`: the steps the person must redo")


class ReviewResult(BaseModel):
    id: str
    status: str = Field(description="The session's status after the review")
    decision: str
    reasons: list[str]
    steps: list[str]
    pending_second_review: bool = Field(
        description="Four eyes: a second reviewer must confirm (the session stays in_review)")
    version: str = Field(description="The session's version now (send as If-Match)")
    url: str | None = Field(default=None, description="For `resubmit`: the hosted link, "
                                                      "usable again")
