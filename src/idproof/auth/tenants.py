"""Tenant use cases: create, list, look up. A tenant is one business using the service."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.auth.models import Tenant
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import Conflict, NotFound, ValidationFailed
from idproof.core.ids import new_id
from idproof.db.engine import Database

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")
REGIONS = ("eu", "us", "uk", "ch", "ca", "au", "sg", "in", "br", "jp")
# Raw images are evidence for a reviewer at most; a quarter is the longest an operator may keep
# them after the decision.
MAX_IMAGE_RETENTION_SECONDS = 90 * 86_400


class TenantService:
    def __init__(self, db: Database, audit: AuditService, clock: Clock | None = None, *,
                 home_region: str | None = None) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock or SystemClock()
        # Residency (IDPROOF_RESIDENCY__REGION): the one region this deployment may hold.
        # The region this deployment holds (residency); None: any, "eu" by default.
        self.home_region = home_region

    def create(self, name: str, region: str | None = None, *, actor: str = "cli") -> Tenant:
        region = region or self.home_region or "eu"
        if not _NAME.match(name):
            raise ValidationFailed("tenant name: 2-63 of a-z 0-9 _ -, starting alphanumeric",
                                   code="invalid_tenant_name")
        if region not in REGIONS:
            raise ValidationFailed(f"region must be one of {', '.join(REGIONS)}",
                                   code="invalid_region")
        if self.home_region is not None and region != self.home_region:
            raise Conflict(f"this deployment holds region {self.home_region}'s data only; "
                           f"create the tenant in region {region}'s deployment",
                           code="residency_mismatch")
        tenant = Tenant(id=new_id("ten"), name=name, region=region, created_at=self._clock.now())
        try:
            with self._db.session() as s:
                s.add(tenant)
                s.flush()
                self._audit.record_in(s, AuditEvent(
                    action="tenant.created", actor_type="operator", actor_id=actor,
                    tenant_id=tenant.id, target_type="tenant", target_id=tenant.id,
                    details={"region": region}))
        except IntegrityError:
            raise Conflict("a tenant with that name exists", code="tenant_exists") from None
        return tenant

    def ensure(self, name: str, region: str | None = None) -> Tenant:
        existing = self.find(name)
        return existing if existing is not None else self.create(name, region, actor="init")

    def find(self, name: str) -> Tenant | None:
        with self._db.read() as s:
            return s.scalar(select(Tenant).where(Tenant.name == name))

    def get(self, name: str) -> Tenant:
        tenant = self.find(name)
        if tenant is None:
            raise NotFound("no such tenant", code="tenant_not_found")
        return tenant

    def set_image_retention(self, name: str, seconds: int, *, actor: str = "cli") -> Tenant:
        """Keep raw document images `seconds` after the decision (0: delete at decision).
        Applies to decisions made from now on."""
        if not 0 <= seconds <= MAX_IMAGE_RETENTION_SECONDS:
            raise ValidationFailed("image retention must be 0 to 90 days",
                                   code="invalid_retention")
        with self._db.session() as s:
            tenant = s.scalar(select(Tenant).where(Tenant.name == name).with_for_update())
            if tenant is None:
                raise NotFound("no such tenant", code="tenant_not_found")
            before = tenant.image_retention_seconds
            tenant.image_retention_seconds = seconds
            self._audit.record_in(s, AuditEvent(
                action="tenant.retention_changed", actor_type="operator", actor_id=actor,
                tenant_id=tenant.id, target_type="tenant", target_id=tenant.id,
                details={"image_retention_seconds": seconds, "before": before}))
        return tenant

    def image_retention(self, tenant_id: str) -> int:
        """Seconds raw images of this tenant are kept after the decision."""
        with self._db.read() as s:
            tenant = s.get(Tenant, tenant_id)
            return tenant.image_retention_seconds if tenant is not None else 0

    def list(self) -> list[Tenant]:
        with self._db.read() as s:
            return list(s.scalars(select(Tenant).order_by(Tenant.created_at, Tenant.name)))
