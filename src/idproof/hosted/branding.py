"""Tenant branding of the hosted pages: stored per tenant, audited, read by every page."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import Conflict, NotFound
from idproof.db.engine import Database
from idproof.hosted.branding_rules import BrandingIn, clean_logo
from idproof.hosted.models import Branding


@dataclass(frozen=True, slots=True)
class BrandView:
    tenant_id: str
    display_name: str
    accent_color: str
    background_color: str | None
    privacy_url: str | None
    support_contact: str | None
    logo_sha256: str | None

    @property
    def version(self) -> str:
        """Changes with the colours: the stylesheet's URL, so browsers may cache it."""
        return hashlib.sha256(f"{self.accent_color}{self.background_color}".encode()
                              ).hexdigest()[:16]

    @property
    def fingerprint(self) -> str:
        """Changes with any setting: a form's version (optimistic concurrency)."""
        text = "|".join(str(v) for v in (self.display_name, self.accent_color,
                                         self.background_color, self.privacy_url,
                                         self.support_contact, self.logo_sha256))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @property
    def support_is_email(self) -> bool:
        return bool(self.support_contact) and not str(self.support_contact).startswith(
            "https://")

    def public(self) -> dict[str, object]:
        return {"display_name": self.display_name, "accent_color": self.accent_color,
                "background_color": self.background_color, "privacy_url": self.privacy_url,
                "support_contact": self.support_contact,
                "logo": self.logo_sha256 is not None}


def _view(row: Branding) -> BrandView:
    return BrandView(row.tenant_id, row.display_name, row.accent_color, row.background_color,
                     row.privacy_url, row.support_contact, row.logo_sha256)


class BrandingService:
    def __init__(self, db: Database, audit: AuditService, clock: Clock | None = None) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock or SystemClock()

    def get(self, tenant_id: str) -> BrandView | None:
        with self._db.read() as s:
            row = s.get(Branding, tenant_id)
            return _view(row) if row is not None else None

    def put(self, tenant_id: str, body: BrandingIn, *, actor_id: str,
            actor_type: str = "client", version: str | None = None) -> BrandView:
        """Set the branding; with `version` (the form's `fingerprint`, "" for none yet), a
        branding changed meanwhile is not overwritten (409 `branding_conflict`)."""
        with self._db.session() as s:
            row = s.get(Branding, tenant_id, with_for_update=True)
            if version is not None and version != (_view(row).fingerprint if row else ""):
                raise Conflict("the branding changed since this form was loaded",
                               code="branding_conflict")
            if row is None:
                row = Branding(tenant_id=tenant_id)
                s.add(row)
            row.display_name, row.accent_color = body.display_name, body.accent_color
            row.background_color, row.privacy_url = body.background_color, body.privacy_url
            row.support_contact, row.updated_at = body.support_contact, self._clock.now()
            self._record(s, tenant_id, actor_id, actor_type, "hosted.branding_updated")
            s.flush()
            return _view(row)

    def set_logo(self, tenant_id: str, data: bytes, *, actor_id: str,
                 actor_type: str = "client") -> BrandView:
        png = clean_logo(data)
        with self._db.session() as s:
            row = s.get(Branding, tenant_id)
            if row is None:
                raise NotFound("set the branding (a display name) first",
                               code="branding_not_found")
            row.logo_png, row.logo_sha256 = png, hashlib.sha256(png).hexdigest()
            row.updated_at = self._clock.now()
            self._record(s, tenant_id, actor_id, actor_type, "hosted.branding_logo_updated")
            return _view(row)

    def logo(self, tenant_id: str) -> tuple[bytes, str] | None:
        with self._db.read() as s:
            row = s.get(Branding, tenant_id)
            if row is None or row.logo_png is None or row.logo_sha256 is None:
                return None
            return row.logo_png, row.logo_sha256

    def _record(self, s: Session, tenant_id: str, actor_id: str, actor_type: str,
                action: str) -> None:
        self._audit.record_in(s, AuditEvent(
            action=action, actor_type=actor_type, actor_id=actor_id, tenant_id=tenant_id,
            target_type="tenant", target_id=tenant_id))
