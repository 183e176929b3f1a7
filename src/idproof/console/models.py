"""Indexes the console's lists need on the sessions table (made by migration 0017)."""

from __future__ import annotations

from sqlalchemy import Index

from idproof.verification.models import VerificationSession

# A tenant's sessions newest first (the sessions list, its filters, the CSV export); the id
# is the list's tie-breaker, so the index gives the whole order and no sort is needed.
SESSIONS_BY_TENANT_CREATED = Index("ix_sessions_tenant_created", VerificationSession.tenant_id,
                                   VerificationSession.created_at, VerificationSession.id)
