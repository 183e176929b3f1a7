"""The composition root: initialise the data dir and build the container of services.

`build_container(settings)` is the one place that picks concrete backends.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from idproof.audit.events import AuditEvent
from idproof.audit.log import AuditLog, default_origin
from idproof.audit.sequencer import Sequencer
from idproof.audit.service import AuditService
from idproof.auth.bearer import BearerVerifier
from idproof.auth.clients import ClientService
from idproof.auth.mtls_service import ClientTlsService
from idproof.auth.oauth import OAuthService
from idproof.auth.revocation import RevocationList
from idproof.auth.secret_hashing import SecretHasher
from idproof.auth.signing_keys import SigningKeyRing
from idproof.auth.tenants import TenantService
from idproof.config import Settings
from idproof.core.clock import Clock, SystemClock
from idproof.crypto.protection import DataProtection
from idproof.crypto.setup import open_data_protection
from idproof.db.engine import Database
from idproof.db.migrate import upgrade
from idproof.hosted.service import HostedService
from idproof.jobs import WEBHOOK_QUEUE_SUFFIX, Jobs, make_huey
from idproof.operators.accounts import OperatorAccounts
from idproof.operators.console import ConsoleService
from idproof.operators.passkeys import Relying
from idproof.operators.sealing import SecretSealer
from idproof.operators.sessions import ConsoleSessions
from idproof.operators.throttle import Limits, SignInThrottle
from idproof.privacy.consent import ConsentService
from idproof.privacy.purge import RetentionService
from idproof.privacy.subjects import SubjectService
from idproof.screening.service import ScreeningService
from idproof.security.alerts import Alert, AlertService, Smtp
from idproof.security.brute_force import BruteForceGuard
from idproof.security.detectors import Threshold, WindowCounter
from idproof.security.rate_limit import RateLimiter
from idproof.security.route_limits import Refusal, RouteLimiter, RouteLimits
from idproof.security.threat_detectors import PII_ACTIONS, DetectorConfig, Detectors
from idproof.vault.service import VaultService
from idproof.verification.biometrics.analysis import FaceAnalyzer
from idproof.verification.biometrics.engines import DlibFaceEngine
from idproof.verification.biometrics.pad import FrequencyPAD
from idproof.verification.biometrics.service import BiometricsService
from idproof.verification.blobs_setup import open_blob_store
from idproof.verification.captures import CaptureService
from idproof.verification.document_reader import DocumentReader
from idproof.verification.links import LinkSigner
from idproof.verification.service import SessionService
from idproof.webhooks.service import WebhookService
from idproof.workflows.service import WorkflowService

SECRET_FILE = "secret.key"  # noqa: S105 - a file name


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, stat.S_IRWXU)  # 0700: nobody else may even list the data dir


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def load_server_secret(settings: Settings) -> bytes:
    """The server secret from settings, or the data dir's key file (generated on first run)."""
    if settings.secret_key is not None:
        raw = settings.secret_key.get_secret_value().strip()
    else:
        path = settings.data_dir / SECRET_FILE
        if not path.exists():
            _private_dir(settings.data_dir)
            _write_private(path, base64.b64encode(os.urandom(32)) + b"\n")
        raw = path.read_text().strip()
    try:
        secret = base64.b64decode(raw, validate=True)
    except binascii.Error:
        raise SystemExit("the server secret must be base64 (32 random bytes)") from None
    if len(secret) < 32:
        raise SystemExit("the server secret must hold at least 32 bytes")
    return secret


def derive(secret: bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose; keys for different purposes are independent."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"idproof/{purpose}/v1".encode()).derive(secret)


def init_data_dir(settings: Settings) -> None:
    """Create the data dir (0700) and make every file in it owner-only."""
    _private_dir(settings.data_dir)
    for child in settings.data_dir.iterdir():
        if child.is_file():
            os.chmod(child, 0o600)


@dataclass
class Container:
    settings: Settings
    clock: Clock
    db: Database
    audit: AuditService
    tenants: TenantService
    clients: ClientService
    keys: SigningKeyRing
    revocations: RevocationList
    guard: BruteForceGuard
    oauth: OAuthService
    bearer: BearerVerifier
    protection: DataProtection
    vault: VaultService
    audit_log: AuditLog
    audit_sequencer: Sequencer
    sessions: SessionService
    captures: CaptureService
    hosted: HostedService
    jobs: Jobs
    webhooks: WebhookService
    biometrics: BiometricsService
    operators: OperatorAccounts
    console: ConsoleService
    workflows: WorkflowService
    screening: ScreeningService
    subjects: SubjectService
    retention: RetentionService
    consents: ConsentService
    route_limits: RouteLimits
    alerts: AlertService
    mtls: ClientTlsService
    detectors: Detectors

    def close(self) -> None:
        if self.audit_sequencer.running:
            self.audit_sequencer.stop()
        self.protection.close()
        self.db.dispose()


def build_container(settings: Settings, clock: Clock | None = None, *,
                    document_reader: DocumentReader | None = None,
                    face_analyzer: FaceAnalyzer | None = None) -> Container:
    """The services wired together. `document_reader` and `face_analyzer` replace the OCR
    and face engines (tests of the session lifecycle that must not depend on them)."""
    clock = clock or SystemClock()
    secret = load_server_secret(settings)
    # hide_parameters: a failing statement must not print personal data into a log.
    db = Database(settings.sqlalchemy_url(), hide_parameters=True)
    audit = AuditService(db, clock)
    audit_log = AuditLog(db, derive(secret, "audit-log-seal"), clock=clock, audit=audit,
                         origin=settings.audit.origin or default_origin(settings.public_url),
                         every_events=settings.audit.checkpoint_every_events,
                         every_seconds=settings.audit.checkpoint_every_seconds)
    audit.on_appended(audit_log.after_append)
    # Started by `idproof serve` and `idproof worker` (start_background_services); until then,
    # and in one-shot commands and tests, each commit integrates its own events inline.
    audit_sequencer = Sequencer(audit, db, interval=settings.audit.sequencer_interval_seconds,
                                batch=settings.audit.sequencer_batch)
    tenants = TenantService(db, audit, clock)
    clients = ClientService(db, audit, SecretHasher(derive(secret, "client-secret-pepper")),
                            clock, cache_seconds=settings.auth.client_cache_seconds)
    keys = SigningKeyRing(db, derive(secret, "signing-key-seal"), audit, clock,
                          keep_previous_seconds=settings.auth.token_ttl_seconds
                          + settings.auth.leeway_seconds + 60)
    revocations = RevocationList(db, settings.auth.revocation_cache_seconds, clock)
    bf = settings.security.brute_force
    storage = (settings.redis_url.get_secret_value() if settings.redis_url else "memory://")
    guard = BruteForceGuard(storage, max_failures=bf.max_failures,
                            window_seconds=bf.window_seconds, block_seconds=bf.block_seconds,
                            client_max_failures=bf.client_max_failures,
                            client_window_seconds=bf.client_window_seconds,
                            bearer_max_failures=bf.bearer_max_failures,
                            bearer_window_seconds=bf.bearer_window_seconds)
    route_limits = RouteLimits(RouteLimiter(storage, enabled=settings.security.rate_limits
                                            .enabled), settings.security.rate_limits)
    route_limits.on_refused(lambda r: _audit_rate_limited(audit, r))
    oauth = OAuthService(settings=settings, db=db, clients=clients, keys=keys,
                         revocations=revocations, audit=audit, guard=guard, clock=clock)
    bearer = BearerVerifier(settings, keys, revocations, clients, clock)
    mtls = ClientTlsService(db, audit, clock)
    oauth.set_tls_check(mtls.check)
    protection = open_data_protection(settings, audit, clock)
    vault = VaultService(db, protection, audit, RateLimiter(storage), clock=clock,
                         detokenize_limit=settings.vault.detokenize_rate_limit)
    sessions = SessionService(db, audit, LinkSigner(derive(secret, "hosted-link")),
                              settings.public_url, clock)
    workflows = WorkflowService(db, audit, clock)
    sessions.set_workflows(workflows)
    blobs = open_blob_store(settings, db)
    captures = CaptureService(db, audit, protection, vault, blobs, sessions,
                              document_reader or DocumentReader(), clock,
                              stuck_after=timedelta(seconds=settings.jobs.stuck_after_seconds),
                              job_timeout=timedelta(seconds=settings.jobs.timeout_seconds))
    captures.set_retention(tenants.image_retention)
    retention = RetentionService(db, audit, captures, clock,
                                 batch=settings.privacy.purge_progress_every)
    wh = settings.webhooks
    webhooks = WebhookService(db, audit, derive(secret, "webhook-secret-seal"),
                              allow_private_networks=settings.webhook_allow_private_networks,
                              timeout_seconds=wh.timeout_seconds,
                              deadline_seconds=wh.deadline_seconds, schedule=wh.schedule,
                              secret_grace=timedelta(hours=wh.secret_grace_hours),
                              sweep_batch=wh.sweep_batch, clock=clock,
                              retention=timedelta(days=wh.retention_days))
    sessions.on_event(lambda s, row, event_type: webhooks.emit(
        s, row.tenant_id, event_type, sessions.event_data(row, event_type)))
    jobs = Jobs(make_huey(settings), process_capture=captures.process,
                sweep=lambda: {**captures.sweep(), **(retention.sweep()
                                                      if settings.privacy.daily_purge else {})},
                sweep_every_minutes=settings.jobs.sweep_every_minutes,
                deliver_webhook=webhooks.deliver, webhook_sweep=webhooks.sweep,
                webhook_huey=make_huey(settings, suffix=WEBHOOK_QUEUE_SUFFIX),
                webhook_threads=settings.jobs.webhook_threads)
    captures.set_enqueue(jobs.enqueue_capture)
    if face_analyzer is None:
        # One face engine per process: its models load on first use and stay loaded.
        face_engine = DlibFaceEngine()
        face_analyzer = FaceAnalyzer(face_engine, face_engine, FrequencyPAD())
    biometrics = BiometricsService(db, audit, protection, blobs, sessions, face_analyzer,
                                   clock)
    captures.on_front_stored(biometrics.document_front_replaced)
    hosted = HostedService(db, audit, LinkSigner(derive(secret, "hosted-link")), sessions,
                           captures, clients, derive(secret, "hosted-csrf"), clock,
                           biometrics=biometrics)
    webhooks.set_enqueue(jobs.enqueue_webhook)
    subjects = SubjectService(db, audit, protection, blobs, captures, clock)
    subjects.set_emit(webhooks.emit)
    consents = ConsentService(db, audit, sessions, captures, subjects, clock)
    hosted.on_consent(lambda s, row, actor, version, locale: consents.record(
        s, row, version=version, locale=locale, ip=actor.ip))
    operators = OperatorAccounts(db, audit, settings.public_url, timedelta(
        hours=settings.operators.enrollment_ttl_hours), clock)
    ops = settings.operators
    console = ConsoleService(
        db, audit, ConsoleSessions(db, clock, idle=timedelta(minutes=ops.idle_minutes),
                                   absolute=timedelta(hours=ops.absolute_hours),
                                   pending=timedelta(minutes=ops.mfa_pending_minutes)),
        SignInThrottle(storage, derive(secret, "operator-throttle"), Limits(
            slow_after=ops.slow_after, lock_after=ops.lock_after,
            lock_seconds=round(ops.lock_minutes * 60), ip_slow_after=ops.ip_slow_after,
            ip_lock_after=ops.ip_lock_after)),
        SecretSealer(derive(secret, "operator-totp-seal")),
        derive(secret, "operator-recovery-pepper"), Relying(settings.public_url), clock,
        csrf_key=derive(secret, "console-csrf"))
    alerts, detectors = _wire_alerts(settings, db, audit, webhooks, guard, clock)
    return Container(route_limits=route_limits, alerts=alerts, mtls=mtls, detectors=detectors,
                     settings=settings, clock=clock, db=db, audit=audit, tenants=tenants,
                     clients=clients, keys=keys, revocations=revocations, guard=guard,
                     oauth=oauth, bearer=bearer, protection=protection, vault=vault,
                     audit_log=audit_log, audit_sequencer=audit_sequencer,
                     sessions=sessions, captures=captures,
                     hosted=hosted, jobs=jobs,
                     webhooks=webhooks, biometrics=biometrics, operators=operators,
                     console=console, workflows=workflows, subjects=subjects, retention=retention,
                     consents=consents,
                     screening=ScreeningService(db, audit, clock))


def _wire_alerts(settings: Settings, db: Database, audit: AuditService,
                 webhooks: WebhookService, guard: BruteForceGuard,
                 clock: Clock) -> tuple[AlertService, Detectors]:
    """Alerts (audit + webhook in one transaction, e-mail, counter) and the detector of
    failed client authentications per IP, which blocks the address and alerts."""
    from idproof.auth.models import Tenant

    cfg = settings.security

    def record(alert: Alert) -> str | None:
        details = {"kind": alert.kind, **alert.details}
        with db.session() as s:
            audit.record_in(s, AuditEvent(action="security.alert", outcome="success",
                                          tenant_id=alert.tenant_id, ip=alert.ip,
                                          details=details))
            if alert.tenant_id is None or not cfg.alerts.webhook:
                return None
            return webhooks.emit(s, alert.tenant_id, "security.alert",
                                 {"kind": alert.kind, "ip": alert.ip, **alert.details})

    def recipients(tenant_id: str | None) -> tuple[str | None, list[str]]:
        name = None
        if tenant_id is not None:
            with db.read() as s:
                row = s.get(Tenant, tenant_id)
                name = row.name if row is not None else None
        return name, list(cfg.alerts.email_to.get(name or "platform", []))

    smtp = settings.smtp
    alerts = AlertService(record, recipients=recipients, smtp=None if smtp.host is None else Smtp(
        smtp.host, smtp.port, smtp.sender, smtp.username,
        smtp.password.get_secret_value() if smtp.password else None, smtp.starttls))
    counter = WindowCounter(guard.storage)
    det = cfg.detectors
    per_ip = Threshold("auth-fail-ip", det.auth_failures_per_ip,
                       det.auth_failures_window_seconds)

    def failed_auth(ip: str, tenant_id: str | None) -> None:
        if counter.count(per_ip, ip):
            guard.block(ip)
            alerts.raise_alert(Alert("auth_failures_per_ip", tenant_id, ip, {
                "threshold": per_ip.amount, "window_seconds": per_ip.seconds,
                "blocked_seconds": cfg.brute_force.block_seconds}))

    guard.on_failure(failed_auth)
    return alerts, _wire_detectors(settings, db, audit, alerts, guard, counter, clock)


def _wire_detectors(settings: Settings, db: Database, audit: AuditService,
                    alerts: AlertService, guard: BruteForceGuard, counter: WindowCounter,
                    clock: Clock) -> Detectors:
    """The detectors over the audit stream (sessions per client, webhook failures per
    endpoint, operator sign-in failures per IP, PII reads above the reader's baseline)."""
    from sqlalchemy import select

    from idproof.audit.models import AuditEventRow

    det = settings.security.detectors

    def history(actor_type: str, actor_id: str, days: int) -> list[int]:
        today = clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
        since = today - timedelta(days=days)
        with db.read() as s:
            times = s.scalars(select(AuditEventRow.occurred_at).where(
                AuditEventRow.actor_type == actor_type, AuditEventRow.actor_id == actor_id,
                AuditEventRow.action.in_(PII_ACTIONS), AuditEventRow.occurred_at >= since,
                AuditEventRow.occurred_at < today))
            per_day = Counter(t.date() for t in times)
        return [per_day.get((since + timedelta(days=i)).date(), 0) for i in range(days)]

    detectors = Detectors(counter, DetectorConfig(
        det.auth_failures_per_ip, det.auth_failures_window_seconds,
        det.webhook_failures_per_endpoint, det.malformed_uploads_per_ip,
        det.sessions_per_client_per_minute, det.pii_baseline_days, det.pii_baseline_factor,
        det.pii_baseline_minimum), alerts.raise_alert, guard.block, history,
        lambda: clock.now().date())
    audit.on_recorded(detectors.observe)
    return detectors


def _audit_rate_limited(audit: AuditService, r: Refusal) -> None:
    """The first refusal of a window per limit and caller: one event, not one per request."""
    audit.record(AuditEvent(action="security.rate_limited", outcome="failure",
                            actor_type="client" if r.client_id else "system",
                            actor_id=r.client_id, tenant_id=r.tenant_id, ip=r.ip,
                            request_id=r.request_id, details={"policy": r.policy}))


def start_background_services(container: Container) -> None:
    """What a long-running process (`idproof serve`, each of its workers, `idproof worker`)
    runs beside its requests: the audit sequencer (unless `audit.sequencer` is `inline`)."""
    if container.settings.audit.sequencer == "background":
        container.audit_sequencer.start()


def prepare(settings: Settings, *, demo_tenant: bool = True) -> Container:
    """First-run work: data dir, migrations, signing key, the `demo` tenant."""
    if settings.database_url is None:
        init_data_dir(settings)
    upgrade(settings.sqlalchemy_url())
    container = build_container(settings)
    container.keys.ensure_key()
    container.audit_log.ensure_key()
    if demo_tenant:
        container.tenants.ensure("demo")
    if settings.database_url is None:
        init_data_dir(settings)  # files SQLite just created (WAL, SHM) are owner-only too
    return container
