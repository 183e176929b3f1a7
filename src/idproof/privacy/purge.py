"""Retention settings per tenant, the purge that applies them, and legal holds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.auth.models import Tenant
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import Conflict, NotFound, ValidationFailed
from idproof.core.ids import new_id
from idproof.db.engine import Database
from idproof.privacy.models import ConsentGrant, LegalHold, PurgeRun, RetentionPolicy
from idproof.privacy.retention import DEFAULT, PURGEABLE, Policy, session_due, validated
from idproof.verification.biometrics.models import SelfieTemplate
from idproof.verification.captures import CaptureService
from idproof.verification.models import Capture, VerificationSession
from idproof.verification.service import Actor

log = structlog.get_logger("idproof.privacy")
Progress = Callable[[int, int], None]
_CASE = 64


@dataclass(slots=True)
class PurgeReport:
    dry_run: bool
    run_id: str
    sessions: dict[str, list[str]] = field(default_factory=lambda: {
        "unsuccessful": [], "extracted_fields": []})
    held: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # changed under us (a review, ...)
    images_due: int = 0
    face_templates: int = 0
    ips_truncated: int = 0

    def counts(self) -> dict[str, int]:
        return {"unsuccessful": len(self.sessions["unsuccessful"]),
                "extracted_fields": len(self.sessions["extracted_fields"]),
                "held": len(self.held), "skipped": len(self.skipped),
                "images_due": self.images_due, "face_templates": self.face_templates,
                "ips_truncated": self.ips_truncated}


def truncate_ip(ip: str) -> str:
    """An address cut to its network: IPv4 /24, IPv6 /48 (no longer one person's)."""
    import ipaddress

    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


class RetentionService:
    def __init__(self, db: Database, audit: AuditService, captures: CaptureService,
                 clock: Clock | None = None, batch: int = 200,
                 ip_keep: timedelta = timedelta(days=30)) -> None:
        self._db = db
        self._audit = audit
        self._captures = captures
        self._clock = clock or SystemClock()
        self._batch = batch
        self._ip_keep = ip_keep

    # -- settings --------------------------------------------------------------------------
    def policy(self, tenant_id: str, s: Session | None = None) -> Policy:
        """A tenant's policy, read in `s` when given (the console's settings transaction)."""
        if s is not None:
            return self._policy(s, tenant_id)
        with self._db.read() as rs:
            return self._policy(rs, tenant_id)

    @staticmethod
    def _policy(s: Session, tenant_id: str) -> Policy:
        tenant = s.get(Tenant, tenant_id)
        row = s.get(RetentionPolicy, tenant_id)
        base = DEFAULT if row is None else Policy(
            extracted_fields_days=row.extracted_fields_days,
            unsuccessful_days=row.unsuccessful_days,
            face_templates_hours=row.face_templates_hours)
        hours = (tenant.image_retention_seconds // 3600) if tenant is not None else 0
        return replace(base, raw_images_hours=hours)

    def image_retention(self, tenant_id: str) -> int:
        """Seconds raw images are kept after the decision (what the decision reads)."""
        return self.policy(tenant_id).raw_images_hours * 3600

    def set_policy(self, tenant_name: str, changes: dict[str, int], *,
                   actor: str = "cli", actor_type: str = "operator",
                   s: Session | None = None) -> Policy:
        """Change a tenant's policy, in `s` when given (the console saves every tenant
        setting in one transaction), else in a transaction of its own."""
        if s is None:
            with self._db.session() as ws:
                return self.set_policy(tenant_name, changes, actor=actor,
                                       actor_type=actor_type, s=ws)
        tenant = s.scalar(select(Tenant).where(Tenant.name == tenant_name).with_for_update())
        if tenant is None:
            raise NotFound("no such tenant", code="tenant_not_found")
        before = self._policy(s, tenant.id)
        unknown = set(changes) - set(before.as_dict())
        if unknown:
            raise ValidationFailed(f"unknown setting {sorted(unknown)[0]}",
                                   code="invalid_retention")
        after = validated(replace(before, **changes))
        row = s.get(RetentionPolicy, tenant.id)
        if row is None:
            row = RetentionPolicy(tenant_id=tenant.id)
            s.add(row)
        row.extracted_fields_days = after.extracted_fields_days
        row.unsuccessful_days = after.unsuccessful_days
        row.face_templates_hours = after.face_templates_hours
        row.updated_at = self._clock.now()
        tenant.image_retention_seconds = after.raw_images_hours * 3600
        self._audit.record_in(s, AuditEvent(
            action="privacy.retention_changed", actor_type=actor_type, actor_id=actor,
            tenant_id=tenant.id, target_type="tenant", target_id=tenant.id,
            details={**after.as_dict(), "before": [f"{k}={v}" for k, v in
                                                   before.as_dict().items()]}))
        return after

    # -- legal holds -----------------------------------------------------------------------
    def place_hold(self, tenant_id: str, session_id: str, case_ref: str, *,
                   actor: str = "cli") -> str:
        case_ref = case_ref.strip()
        if not case_ref or len(case_ref) > _CASE or not case_ref.isprintable():
            raise ValidationFailed("give the case reference (a code, 1-64 characters)",
                                   code="case_required")
        with self._db.session() as s:
            row = s.get(VerificationSession, session_id)
            if row is None or row.tenant_id != tenant_id:
                raise NotFound("no such session in this tenant", code="session_not_found")
            if self._held(s, session_id):
                raise Conflict("this session is already under a legal hold",
                               code="already_held")
            hold_id = new_id("hold")
            s.add(LegalHold(id=hold_id, tenant_id=tenant_id, session_id=session_id,
                            case_ref=case_ref, placed_by=actor, placed_at=self._clock.now()))
            self._audit.record_in(s, AuditEvent(
                action="privacy.legal_hold_placed", actor_type="operator", actor_id=actor,
                tenant_id=tenant_id, target_type="session", target_id=session_id,
                details={"hold_id": hold_id, "case": case_ref}))
        return hold_id

    def release_hold(self, tenant_id: str, session_id: str, *, actor: str = "cli") -> None:
        with self._db.session() as s:
            hold = s.scalar(select(LegalHold).where(
                LegalHold.tenant_id == tenant_id, LegalHold.session_id == session_id,
                LegalHold.released_at.is_(None)).with_for_update())
            if hold is None:
                raise NotFound("no legal hold on this session", code="hold_not_found")
            hold.released_at = self._clock.now()
            hold.released_by = actor
            self._audit.record_in(s, AuditEvent(
                action="privacy.legal_hold_released", actor_type="operator", actor_id=actor,
                tenant_id=tenant_id, target_type="session", target_id=session_id,
                details={"hold_id": hold.id, "case": hold.case_ref}))

    def holds(self, tenant_id: str) -> list[LegalHold]:
        with self._db.read() as s:
            return list(s.scalars(select(LegalHold).where(
                LegalHold.tenant_id == tenant_id, LegalHold.released_at.is_(None))
                .order_by(LegalHold.placed_at)))

    @staticmethod
    def _held(s: Session, session_id: str) -> bool:
        return s.scalar(select(LegalHold.id).where(
            LegalHold.session_id == session_id, LegalHold.released_at.is_(None))
            .limit(1)) is not None

    # -- the purge -------------------------------------------------------------------------
    def purge(self, *, dry_run: bool = False, actor: str = "system",
              progress: Progress | None = None) -> PurgeReport:
        """Apply every tenant's policy: erase the sessions past their retention (held ones
        kept), drop face templates past theirs, cut consent IPs older than 30 days. A dry run
        changes nothing and reports what would go."""
        now = self._clock.now()
        report = PurgeReport(dry_run=dry_run, run_id=new_id("prg"))
        with self._db.session() as s:
            s.add(PurgeRun(id=report.run_id, started_at=now, dry_run=dry_run, actor=actor,
                           counts={}))
        policies, due = self._survey(report, now)
        self._erase_due(report, due, policies, now, actor=actor, progress=progress)
        if not dry_run:
            self._captures.sweep_images()
            with self._db.session() as s:
                for template in self._templates_due(s, policies, now):
                    s.delete(template)
                for grant in s.scalars(select(ConsentGrant).where(
                        ConsentGrant.ip_truncated.is_(False), ConsentGrant.ip.is_not(None),
                        ConsentGrant.accepted_at <= now - self._ip_keep)):
                    grant.ip = truncate_ip(grant.ip or "")
                    grant.ip_truncated = True
        counts = report.counts()
        with self._db.session() as s:
            run = s.get(PurgeRun, report.run_id)
            assert run is not None
            run.finished_at = self._clock.now()
            run.counts = counts
            self._audit.record_in(s, AuditEvent(
                action="privacy.purge_dry_run" if dry_run else "privacy.purged",
                actor_type="system" if actor == "system" else "operator", actor_id=actor,
                target_type="purge_run", target_id=report.run_id, details=counts))
        log.info("privacy_purge_done", dry_run=dry_run, **counts)
        return report

    def _survey(self, report: PurgeReport, now: datetime
                ) -> tuple[dict[str, Policy], list[tuple[str, str, str]]]:
        """Every tenant's policy and the sessions due, (tenant, session, why); held ones, and
        the images, templates and IPs due, counted on the report."""
        due: list[tuple[str, str, str]] = []
        with self._db.read() as s:
            policies = {t: self._policy(s, t) for t in s.scalars(select(Tenant.id))}
            for tenant_id, policy in policies.items():
                rows = s.execute(select(
                    VerificationSession.id, VerificationSession.status,
                    func.coalesce(VerificationSession.decided_at,
                                  VerificationSession.updated_at))
                    .where(VerificationSession.tenant_id == tenant_id,
                           VerificationSession.status.in_(sorted(PURGEABLE)))
                    .order_by(VerificationSession.created_at)).all()
                for sid, status, ended in rows:
                    why = session_due(policy, status, ended, now)
                    if why is None:
                        continue
                    if self._held(s, sid):
                        report.held.append(sid)
                    else:
                        due.append((tenant_id, sid, why))
            report.images_due = s.scalar(select(func.count()).select_from(Capture).where(
                Capture.deleted_at.is_(None), Capture.delete_after <= now)) or 0
            report.face_templates = len(self._templates_due(s, policies, now))
            report.ips_truncated = s.scalar(select(func.count()).select_from(ConsentGrant)
                                            .where(ConsentGrant.ip_truncated.is_(False),
                                                   ConsentGrant.ip.is_not(None),
                                                   ConsentGrant.accepted_at
                                                   <= now - self._ip_keep)) or 0
        return policies, due

    def _erase_due(self, report: PurgeReport, due: list[tuple[str, str, str]],
                   policies: dict[str, Policy], now: datetime, *, actor: str,
                   progress: Progress | None) -> None:
        """Erase each session still due under its row lock (a review or a hold since the
        survey keeps it), with progress every `batch` sessions; a dry run only lists them."""
        total = len(due)
        if progress:
            progress(0, total)
        for done, (tenant_id, sid, why) in enumerate(due, 1):
            if report.dry_run:
                report.sessions[why].append(sid)
            else:
                def still_due(s: Session, row: VerificationSession, w: str = why,
                              t: str = tenant_id) -> bool:
                    return self._still_due(s, row, w, policies[t], now)

                erased = self._captures.erase(
                    Actor(tenant_id=tenant_id, client_id=actor, actor_type="system"), sid,
                    check=still_due)
                (report.sessions[why] if erased else report.skipped).append(sid)
            if progress and (done % self._batch == 0 or done == total):
                progress(done, total)
                log.info("privacy_purge_progress", done=done, total=total,
                         dry_run=report.dry_run)

    def _still_due(self, s: Session, row: VerificationSession, why: str, policy: Policy,
                   now: datetime) -> bool:
        """Checked under the row lock: a review or a hold since the scan keeps the session."""
        ended = row.decided_at or row.updated_at
        return not self._held(s, row.id) and session_due(policy, row.status, ended,
                                                         now) == why

    @staticmethod
    def _templates_due(s: Session, policies: dict[str, Policy],
                       now: datetime) -> list[SelfieTemplate]:
        out = []
        for template, decided_at in s.execute(select(SelfieTemplate,
                                                     VerificationSession.decided_at).join(
                VerificationSession, VerificationSession.id == SelfieTemplate.session_id)
                .where(VerificationSession.decided_at.is_not(None))).all():
            policy = policies.get(template.tenant_id, DEFAULT)
            if (decided_at is not None
                    and now >= decided_at + timedelta(hours=policy.face_templates_hours)):
                out.append(template)
        return out

    def due_daily(self) -> bool:
        """Whether the last real purge is more than a day old (the periodic sweep asks)."""
        with self._db.read() as s:
            last = s.scalar(select(func.max(PurgeRun.started_at)).where(
                PurgeRun.dry_run.is_(False)))
        return last is None or self._clock.now() - last >= timedelta(days=1)

    def sweep(self) -> dict[str, Any]:
        """The daily purge, from the periodic job (runs at most once a day)."""
        if not self.due_daily():
            return {}
        return {"purge": self.purge().counts()}


