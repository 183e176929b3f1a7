"""Operator accounts: create (with an enrolment link), list, disable, reset second factors."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idproof.audit.service import AuditService
from idproof.auth.models import Tenant
from idproof.auth.tenants import REGIONS
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import Conflict, NotFound, ValidationFailed
from idproof.core.ids import new_id, random_token
from idproof.db.engine import Database
from idproof.operators.audit_events import operator_event
from idproof.operators.models import (
    Operator,
    OperatorEnrollment,
    OperatorPasskey,
    OperatorRecoveryCode,
    OperatorSession,
)
from idproof.operators.policy import Role

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


def token_hash(token: str) -> str:
    return hashlib.sha256(b"idproof/operator-enrollment/v1/" + token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class OperatorView:
    id: str
    email: str
    role: str
    tenants: tuple[str, ...]   # tenant names; empty: all tenants
    regions: tuple[str, ...]
    status: str
    assigned_only: bool
    has_totp: bool
    passkeys: int


@dataclass(frozen=True, slots=True)
class Issued:
    operator: OperatorView
    enrollment_url: str


def normalize_email(email: str) -> str:
    return email.strip().lower()


class OperatorAccounts:
    def __init__(self, db: Database, audit: AuditService, public_url: str,
                 enrollment_ttl: timedelta, clock: Clock | None = None) -> None:
        self._db = db
        self._audit = audit
        self._public_url = public_url.rstrip("/")
        self._ttl = enrollment_ttl
        self._clock = clock or SystemClock()

    # -- create ------------------------------------------------------------------------------
    def create(self, email: str, role: str, tenants: list[str] | None = None, *,
               regions: list[str] | None = None, assigned_only: bool = False,
               actor: str = "cli") -> Issued:
        email = normalize_email(email)
        if not _EMAIL.match(email):
            raise ValidationFailed("not an email address", code="invalid_email")
        role_value = _checked_role(role, tenants, regions)
        now = self._clock.now()
        try:
            with self._db.session() as s:
                tenant_ids = self._tenant_ids(s, tenants or [])
                op = Operator(id=new_id("opr"), email=email, role=role_value.value,
                              tenants=tenant_ids, regions=sorted(set(regions or [])),
                              assigned_only=assigned_only, status="pending",
                              created_at=now, updated_at=now, user_handle=random_token(32))
                s.add(op)
                s.flush()
                url = self._new_enrollment(s, op.id)
                self._audit.record_in(s, operator_event(
                    "operator.created", actor_id=actor, target_id=op.id, role=op.role,
                    tenants=tenant_ids, regions=op.regions))
                view = self._view(s, op)
        except IntegrityError:
            raise Conflict("an operator with that email exists", code="operator_exists") from None
        return Issued(view, url)

    def set_role(self, ref: str, role: str, tenants: list[str] | None = None, *,
                 regions: list[str] | None = None, actor: str = "cli") -> OperatorView:
        """Change an operator's role, tenants and regions. A change of privilege ends its
        sessions: the next page asks it to sign in again under the new rights."""
        role_value = _checked_role(role, tenants, regions)
        with self._db.session() as s:
            op = self._find(s, ref, lock=True)
            tenant_ids = self._tenant_ids(s, tenants or [])
            previous = op.role
            now = self._clock.now()
            op.role, op.tenants = role_value.value, tenant_ids
            op.regions = sorted(set(regions or []))
            op.updated_at = now
            revoked = revoke_sessions(s, op.id, now)
            self._audit.record_in(s, operator_event(
                "operator.role_changed", actor_id=actor, target_id=op.id, role=op.role,
                previous_role=previous, tenants=tenant_ids, regions=op.regions,
                sessions_revoked=revoked))
            return self._view(s, op)

    def _tenant_ids(self, s: Session, names: list[str]) -> list[str]:
        ids = []
        for name in dict.fromkeys(names):
            tenant = s.scalar(select(Tenant).where(or_(Tenant.name == name, Tenant.id == name)))
            if tenant is None:
                raise NotFound("no such tenant", code="tenant_not_found")
            ids.append(tenant.id)
        return ids

    def _new_enrollment(self, s: Session, operator_id: str) -> str:
        now = self._clock.now()
        # Any earlier link stops working: only the newest one enrols.
        s.execute(update(OperatorEnrollment)
                  .where(OperatorEnrollment.operator_id == operator_id,
                         OperatorEnrollment.used_at.is_(None))
                  .values(used_at=now))
        token = random_token(32)
        s.add(OperatorEnrollment(id=new_id("enr"), operator_id=operator_id,
                                 token_hash=token_hash(token), created_at=now,
                                 expires_at=now + self._ttl))
        return f"{self._public_url}/console/enroll/{token}"

    # -- read --------------------------------------------------------------------------------
    def _view(self, s: Session, op: Operator) -> OperatorView:
        names: dict[str, str] = {}
        if op.tenants:
            names = dict(s.execute(select(Tenant.id, Tenant.name)
                                   .where(Tenant.id.in_(op.tenants))).all())
        passkeys = s.scalar(select(func.count()).select_from(OperatorPasskey)
                            .where(OperatorPasskey.operator_id == op.id)) or 0
        return OperatorView(id=op.id, email=op.email, role=op.role,
                            tenants=tuple(names.get(t, t) for t in op.tenants),
                            regions=tuple(op.regions), status=op.status,
                            assigned_only=op.assigned_only, has_totp=op.totp_secret is not None,
                            passkeys=int(passkeys))

    def list(self) -> list[OperatorView]:
        with self._db.read() as s:
            return [self._view(s, op) for op in s.scalars(select(Operator)
                                                          .order_by(Operator.created_at))]

    def get(self, ref: str) -> OperatorView:
        with self._db.read() as s:
            return self._view(s, self._find(s, ref))

    def _find(self, s: Session, ref: str, *, lock: bool = False) -> Operator:
        stmt = select(Operator).where(or_(Operator.id == ref,
                                          Operator.email == normalize_email(ref)))
        if lock:
            stmt = stmt.with_for_update()
        op = s.scalar(stmt)
        if op is None:
            raise NotFound("no such operator", code="operator_not_found")
        return op

    # -- disable, reset ------------------------------------------------------------------------
    def disable(self, ref: str, *, actor: str = "cli") -> OperatorView:
        """Disable an operator: it cannot sign in, and every live session ends now."""
        with self._db.session() as s:
            op = self._find(s, ref, lock=True)
            now = self._clock.now()
            op.status = "disabled"
            op.updated_at = now
            s.execute(update(OperatorEnrollment)
                      .where(OperatorEnrollment.operator_id == op.id,
                             OperatorEnrollment.used_at.is_(None)).values(used_at=now))
            revoked = revoke_sessions(s, op.id, now)
            self._audit.record_in(s, operator_event("operator.disabled", actor_id=actor,
                                                    target_id=op.id))
            if revoked:
                self._audit.record_in(s, operator_event(
                    "operator.sessions_revoked", actor_id=actor, target_id=op.id,
                    reason="disabled", sessions=revoked))
            return self._view(s, op)

    def reset_mfa(self, ref: str, *, actor: str = "cli") -> Issued:
        """Remove the password and every second factor, end all sessions, and issue a new
        enrolment link (the operator chooses a password and enrols a factor again)."""
        with self._db.session() as s:
            op = self._find(s, ref, lock=True)
            if op.status == "disabled":
                raise Conflict("the operator is disabled", code="operator_disabled")
            now = self._clock.now()
            had = {"totp": op.totp_secret is not None}
            op.password_hash = None
            op.totp_secret = None
            op.totp_last_step = None
            op.status = "pending"
            op.updated_at = now
            passkeys = cast(CursorResult[Any], s.execute(
                delete(OperatorPasskey).where(OperatorPasskey.operator_id == op.id))).rowcount
            s.execute(delete(OperatorRecoveryCode)
                      .where(OperatorRecoveryCode.operator_id == op.id))
            revoked = revoke_sessions(s, op.id, now)
            url = self._new_enrollment(s, op.id)
            self._audit.record_in(s, operator_event(
                "operator.mfa_removed", actor_id=actor, target_id=op.id, reason="reset",
                totp=had["totp"], passkeys=passkeys))
            if revoked:
                self._audit.record_in(s, operator_event(
                    "operator.sessions_revoked", actor_id=actor, target_id=op.id,
                    reason="mfa_reset", sessions=revoked))
            return Issued(self._view(s, op), url)


def _checked_role(role: str, tenants: list[str] | None, regions: list[str] | None) -> Role:
    try:
        role_value = Role(role)
    except ValueError:
        raise ValidationFailed(f"role must be one of {', '.join(r.value for r in Role)}",
                               code="invalid_role") from None
    if role_value is Role.OWNER and tenants:
        raise ValidationFailed("an owner covers every tenant; give no --tenant",
                               code="owner_has_no_tenants")
    for region in regions or []:
        if region not in REGIONS:
            raise ValidationFailed(f"region must be one of {', '.join(REGIONS)}",
                                   code="invalid_region")
    return role_value


def revoke_sessions(s: Session, operator_id: str, now: object, *,
                    keep: str | None = None) -> int:
    """End every live session of an operator (but `keep`); returns how many ended."""
    stmt = (update(OperatorSession)
            .where(OperatorSession.operator_id == operator_id,
                   OperatorSession.revoked_at.is_(None))
            .values(revoked_at=now))
    if keep is not None:
        stmt = stmt.where(OperatorSession.id != keep)
    return int(cast(CursorResult[Any], s.execute(stmt)).rowcount or 0)
