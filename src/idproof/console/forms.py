"""The console's form bodies as Pydantic models (extra fields refused), parsed from form data."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from idproof.auth.scopes import KNOWN_SCOPES
from idproof.core.errors import ValidationFailed
from idproof.verification.document.accepted import DOCUMENT_TYPES
from idproof.webhooks.schemas import SUBSCRIBABLE

# Repeated fields (checkboxes) arrive as lists; the others as one string.
_LISTS = {"scopes", "event_types", "document_types"}
M = TypeVar("M", bound=BaseModel)


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _lines(value: str) -> list[str]:
    return [x.strip() for x in value.replace(",", "\n").splitlines() if x.strip()]


def known_scopes(v: list[str]) -> list[str]:
    if set(v) - KNOWN_SCOPES:
        raise ValueError("unknown scope")
    return v


class ClientForm(_Form):
    name: str = Field("", max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=len(KNOWN_SCOPES))
    allowed_ips: str = Field("", max_length=2000)
    allowed_origins: str = Field("", max_length=2000)

    @field_validator("scopes")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        return known_scopes(v)

    def ips(self) -> list[str]:
        return _lines(self.allowed_ips)

    def origins(self) -> list[str]:
        return _lines(self.allowed_origins)


class ClientEditForm(_Form):
    version: str = Field(max_length=64)
    scopes: list[str] = Field(min_length=1, max_length=len(KNOWN_SCOPES))
    allowed_ips: str = Field("", max_length=2000)
    allowed_origins: str = Field("", max_length=2000)

    @field_validator("scopes")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        return known_scopes(v)

    def ips(self) -> list[str]:
        return _lines(self.allowed_ips)

    def origins(self) -> list[str]:
        return _lines(self.allowed_origins)


class RotateForm(_Form):
    grace_hours: int = Field(24, ge=0, le=30 * 24)


class EndpointForm(_Form):
    url: str = Field(min_length=1, max_length=2048)
    event_types: list[str] = Field(min_length=1, max_length=len(SUBSCRIBABLE))
    description: str = Field("", max_length=200)

    @field_validator("event_types")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        if set(v) - set(SUBSCRIBABLE):
            raise ValueError("unknown event type")
        return v


class SettingsForm(_Form):
    version: str = Field(max_length=200)
    sla_hours: int = Field(ge=1, le=24 * 30)
    four_eyes: bool = False
    raw_images_hours: int = Field(ge=0, le=30 * 24)
    extracted_fields_days: int = Field(ge=30, le=3650)
    unsuccessful_days: int = Field(ge=1, le=3650)
    face_templates_hours: int = Field(ge=0, le=30 * 24)
    # Accepted issuing countries (codes separated by spaces or commas) and document types
    # (ticked boxes); empty: every one. Checked against the catalogues when saved.
    countries: str = Field("", max_length=2000)
    document_types: list[str] = Field(default_factory=list,
                                      max_length=len(DOCUMENT_TYPES))


class Empty(_Form):
    """A form with nothing but its CSRF token."""


def parse_form(model: type[M], form: Mapping[str, Any] | Any) -> M:
    """`model` from submitted form data (the CSRF token set aside); ValidationFailed with the
    offending field names (never their values) in `extra["fields"]`."""
    data: dict[str, Any] = {}
    for key in form:
        if key == "csrf_token":
            continue
        values = form.getlist(key) if hasattr(form, "getlist") else [form[key]]
        data[key] = [str(v) for v in values] if key in _LISTS else str(values[-1])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"][:1]) or "form"
                         for e in exc.errors()})
        raise ValidationFailed("the form is not valid", code="invalid_form",
                               extra={"fields": fields}) from None


def failure_text(exc: Exception, texts: dict[str, str]) -> str:
    """What a page says of a refused form: a known code's text, else the fields to check."""
    code = getattr(exc, "code", "")
    if code in texts:
        return texts[code]
    extra = getattr(exc, "extra", None) or {}
    fields = extra.get("fields")
    names = ", ".join(str(f) for f in fields) if isinstance(fields, list) else ""
    return "The form is not valid" + (f" (check: {names})." if names else ".")


def version_of(values: dict[str, Any]) -> str:
    """A fingerprint of the settings a form was drawn from (optimistic concurrency)."""
    text = ";".join(f"{k}={values[k]}" for k in sorted(values))
    return hashlib.sha256(text.encode()).hexdigest()[:32]
