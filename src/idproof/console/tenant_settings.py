"""A tenant's settings read and saved as one: the form's fingerprint is compared with the
stored values and the changes written in the same transaction (compare-and-set)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idproof.auth.models import Tenant
from idproof.console.forms import SettingsForm, version_of
from idproof.core.errors import Conflict
from idproof.privacy.retention import LIMITS
from idproof.verification.document.accepted import accepted, split_countries
from idproof.verification.service import Actor


@dataclass(frozen=True, slots=True)
class Saved:
    """Which groups of settings a save changed (each one audited)."""

    retention: bool = False
    review: bool = False
    documents: bool = False


def snapshot(c: Any, s: Session, tenant_id: str) -> dict[str, Any]:
    """Every setting of the page, read in `s`: what the form shows and fingerprints."""
    review = c.sessions.review_settings(tenant_id, s)
    docs = c.sessions.accepted_documents(tenant_id, s)
    return {**c.retention.policy(tenant_id, s).as_dict(), "sla_hours": review.sla_hours,
            "four_eyes": bool(review.four_eyes), "countries": " ".join(docs.countries),
            "document_types": list(docs.types)}


def current(c: Any, tenant_id: str) -> dict[str, Any]:
    with c.db.read() as s:
        return snapshot(c, s, tenant_id)


def save(c: Any, tenant: Tenant, body: SettingsForm, actor: Actor) -> Saved:
    """Write what changed, or nothing: a 422 (`unknown_country`, `unknown_document_type`,
    a value out of range) or a 409 `settings_conflict` when the form was drawn from values
    that are no longer the stored ones. The tenant row is locked first, so two saves of one
    tenant run one after the other and the second sees the first's values (SQLite has one
    writer at a time anyway)."""
    docs = accepted(split_countries(body.countries), body.document_types)
    retention = {k: getattr(body, k) for k in LIMITS}
    with c.db.session() as s:
        s.scalar(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update())
        before = snapshot(c, s, tenant.id)
        if not hmac.compare_digest(body.version, version_of(before)):
            raise Conflict("the settings changed since the form was loaded",
                           code="settings_conflict")
        saved = Saved(
            retention=retention != {k: before[k] for k in LIMITS},
            review=(body.sla_hours, body.four_eyes) != (before["sla_hours"],
                                                        before["four_eyes"]),
            documents=(" ".join(docs.countries), list(docs.types)) != (
                before["countries"], before["document_types"]))
        if saved.retention:
            c.retention.set_policy(tenant.name, retention, actor=actor.client_id, s=s)
        if saved.review:
            c.sessions.set_review_settings(actor, sla_hours=body.sla_hours,
                                           four_eyes=body.four_eyes, s=s)
        if saved.documents:
            c.sessions.set_accepted_documents(s, actor, docs)
    return saved
