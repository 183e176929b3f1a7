"""The composition root: initialise the data dir and build the container of services.

`build_container(settings)` is the one place that picks concrete backends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from sqlalchemy.orm import Session

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
from idproof.bootstrap_alerts import audit_rate_limited, wire_alerts
from idproof.config import Settings
from idproof.console.rollup import roll_up
from idproof.console.rollup import session_erased as rollup_session_erased
from idproof.core.clock import Clock, SystemClock
from idproof.core.events import (
    DocumentFrontStored,
    EventBus,
    SessionDecided,
    SessionErased,
    SessionEvent,
)
from idproof.core.tasks import TaskQueue
from idproof.crypto.protection import DataProtection
from idproof.crypto.setup import open_data_protection
from idproof.datadir import derive, init_data_dir, load_server_secret
from idproof.db.engine import Database
from idproof.db.migrate import upgrade
from idproof.hosted.service import HostedService
from idproof.jobs import WEBHOOK_QUEUE_SUFFIX, Jobs, make_huey
from idproof.operators.accounts import OperatorAccounts
from idproof.operators.console import ConsoleService
from idproof.operators.passkeys import Relying
from idproof.operators.sealing import SecretSealer
from idproof.operators.sessions import ConsoleSessions
from idproof.operators.sso import build_sso
from idproof.operators.throttle import Limits, SignInThrottle
from idproof.privacy.consent import ConsentService
from idproof.privacy.purge import RetentionService
from idproof.privacy.residency import ResidencyGuard, check_deployment
from idproof.privacy.subjects import SubjectService
from idproof.screening.monitoring import ScreeningMonitor
from idproof.screening.service import ScreeningService
from idproof.security.alerts import AlertService
from idproof.security.brute_force import BruteForceGuard
from idproof.security.rate_limit import RateLimiter
from idproof.security.route_limits import RouteLimiter, RouteLimits
from idproof.security.threat_detectors import Detectors
from idproof.signals.service import SignalService
from idproof.signals.sessions import session_changed as signals_session_changed
from idproof.signals.setup import build_signals
from idproof.vault.service import VaultService
from idproof.verification.biometrics.analysis import FaceAnalyzer
from idproof.verification.biometrics.engines import DlibFaceEngine
from idproof.verification.biometrics.pad import FrequencyPAD
from idproof.verification.biometrics.service import BiometricsService
from idproof.verification.blobs_setup import open_blob_store
from idproof.verification.captures import PROCESS_CAPTURE, CaptureService
from idproof.verification.document_reader import DocumentReader
from idproof.verification.links import LinkSigner
from idproof.verification.service import SessionService
from idproof.webhooks.service import DELIVER_WEBHOOK, WebhookService
from idproof.workflows.service import WorkflowService
from idproof.workflows.steps.screening_step import ScreeningStep
from idproof.workflows.steps.service import ContactSteps
from idproof.workflows.steps.wiring import build_contact_steps


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
    screening_monitor: ScreeningMonitor
    signals: SignalService
    residency: ResidencyGuard
    contact_steps: ContactSteps
    screening_step: ScreeningStep
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
        if self.console.sso is not None:
            self.console.sso.provider.close()
        self.db.dispose()


def build_container(settings: Settings, clock: Clock | None = None, *,
                    document_reader: DocumentReader | None = None,
                    face_analyzer: FaceAnalyzer | None = None,
                    tasks: TaskQueue | None = None) -> Container:
    """The services wired together. `document_reader` and `face_analyzer` replace the OCR
    and face engines (tests of the session lifecycle that must not depend on them); `tasks`
    replaces the queue the services put jobs on (tests that run the jobs themselves)."""
    clock = clock or SystemClock()
    check_deployment(settings)  # never write a tenant's data outside its declared region
    secret = load_server_secret(settings)
    # hide_parameters: a failing statement must not print personal data into a log.
    db = Database(settings.sqlalchemy_url(), hide_parameters=True)
    events = EventBus()
    jobs = Jobs(make_huey(settings),
                webhook_huey=make_huey(settings, suffix=WEBHOOK_QUEUE_SUFFIX),
                webhook_threads=settings.jobs.webhook_threads)
    queue: TaskQueue = tasks or jobs
    audit = AuditService(db, clock)
    audit_log = AuditLog(db, derive(secret, "audit-log-seal"), clock=clock, audit=audit,
                         origin=settings.audit.origin or default_origin(settings.public_url),
                         every_events=settings.audit.checkpoint_every_events,
                         every_seconds=settings.audit.checkpoint_every_seconds)
    # Started by `idproof serve` and `idproof worker` (start_background_services); until then,
    # and in one-shot commands and tests, each commit integrates its own events inline.
    audit_sequencer = Sequencer(audit, db, interval=settings.audit.sequencer_interval_seconds,
                                batch=settings.audit.sequencer_batch)
    tenants = TenantService(db, audit, clock, home_region=settings.residency.region)
    storage = (settings.redis_url.get_secret_value() if settings.redis_url else "memory://")
    guard, route_limits = _protection(settings, storage)
    auth = _auth(settings, db, audit, secret, clock, guard)
    protection = open_data_protection(settings, audit, clock)
    vault = VaultService(db, protection, audit, RateLimiter(storage), clock=clock,
                         detokenize_limit=settings.vault.detokenize_rate_limit)
    workflows = WorkflowService(db, audit, clock)
    sessions = SessionService(db, audit, LinkSigner(derive(secret, "hosted-link")),
                              settings.public_url, events, clock, workflows=workflows)
    blobs = open_blob_store(settings, db)
    captures = CaptureService(db, audit, protection, vault, blobs, sessions,
                              document_reader or DocumentReader(), events=events, tasks=queue,
                              retention=tenants.image_retention, clock=clock,
                              stuck_after=timedelta(seconds=settings.jobs.stuck_after_seconds),
                              job_timeout=timedelta(seconds=settings.jobs.timeout_seconds))
    retention = RetentionService(db, audit, captures, clock,
                                 batch=settings.privacy.purge_progress_every)
    wh = settings.webhooks
    webhooks = WebhookService(db, audit, derive(secret, "webhook-secret-seal"), tasks=queue,
                              allow_private_networks=settings.webhook_allow_private_networks,
                              timeout_seconds=wh.timeout_seconds,
                              deadline_seconds=wh.deadline_seconds, schedule=wh.schedule,
                              secret_grace=timedelta(hours=wh.secret_grace_hours),
                              sweep_batch=wh.sweep_batch, clock=clock,
                              retention=timedelta(days=wh.retention_days))
    if face_analyzer is None:
        # One face engine per process: its models load on first use and stay loaded.
        face_engine = DlibFaceEngine()
        face_analyzer = FaceAnalyzer(face_engine, face_engine, FrequencyPAD())
    biometrics = BiometricsService(db, audit, protection, blobs, sessions, face_analyzer,
                                   clock)
    hosted = HostedService(db, audit, LinkSigner(derive(secret, "hosted-link")), sessions,
                           captures, auth.clients, derive(secret, "hosted-csrf"), clock,
                           biometrics=biometrics)
    subjects = SubjectService(db, audit, protection, blobs, captures, clock)
    signals = build_signals(db, audit, protection, derive(secret, "signals-hash"), clock,
                            settings.signals)
    screening = ScreeningService(db, audit, clock)
    screening_monitor = ScreeningMonitor(db, audit, protection, screening, webhooks.emit, clock)
    alerts, detectors = wire_alerts(settings, db, audit, webhooks, guard, clock)
    container = Container(
        settings=settings, clock=clock, db=db, audit=audit, tenants=tenants,
        clients=auth.clients, keys=auth.keys, revocations=auth.revocations, guard=guard,
        mtls=auth.mtls,
        oauth=auth.oauth, bearer=auth.bearer, protection=protection, vault=vault,
        audit_log=audit_log, audit_sequencer=audit_sequencer, sessions=sessions,
        captures=captures, hosted=hosted, jobs=jobs, webhooks=webhooks, biometrics=biometrics,
        operators=OperatorAccounts(db, audit, settings.public_url, timedelta(
            hours=settings.operators.enrollment_ttl_hours), clock),
        console=_console(settings, db, audit, secret, clock, storage),
        workflows=workflows, subjects=subjects, retention=retention,
        consents=ConsentService(db, audit, sessions, captures, subjects, clock),
        screening=screening, screening_monitor=screening_monitor, signals=signals,
        residency=ResidencyGuard(settings.residency, _region_of(db)),
        contact_steps=build_contact_steps(settings, db, audit, protection, sessions,
                                          derive(secret, "workflow-otp"), clock),
        screening_step=ScreeningStep(db, audit, protection, sessions, screening, clock),
        route_limits=route_limits,
        alerts=alerts, detectors=detectors)
    _wire(container, events)
    return container


def _region_of(db: Database) -> Callable[[str], str | None]:
    from idproof.auth.models import Tenant

    def region(tenant_id: str) -> str | None:
        with db.read() as s:
            row = s.get(Tenant, tenant_id)
            return row.region if row is not None else None

    return region


def _wire(c: Container, events: EventBus) -> None:
    """Who reacts to what, in which order: the one place where services are connected."""
    # Events, handled inside the transaction that publishes them; for one event, the
    # handlers of its own class run first, then those of its base class, each in this order.
    events.subscribe(SessionDecided, c.captures.images_due)  # raw images become due
    events.subscribe(DocumentFrontStored, c.biometrics.document_front_replaced)
    # Signals before the outbox: `session.decided` then carries the signals' reasons.
    events.subscribe(SessionEvent, partial(signals_session_changed, c.signals))
    events.subscribe(SessionEvent, partial(_session_webhook, c.sessions, c.webhooks))
    events.subscribe(SessionEvent, c.biometrics.session_changed)  # selfie at submit; cleanup
    events.subscribe(SessionErased, rollup_session_erased)  # the dashboard forgets it too
    # Tasks, run by a worker after the commit that queued them (ids only).
    c.jobs.handle(PROCESS_CAPTURE, c.captures.process, retries=3, retry_delay=2)
    # One attempt per task: the service keeps its own retry schedule, and its sweep queues
    # due deliveries again after a restart or a loss.
    c.jobs.handle(DELIVER_WEBHOOK, c.webhooks.deliver, queue="webhooks")
    c.jobs.every("sweep", partial(_sweep, c), minutes=c.settings.jobs.sweep_every_minutes)
    c.jobs.every("webhook_sweep", c.webhooks.sweep, queue="webhooks")
    c.jobs.every("console_rollup", partial(roll_up, c.db))  # final sessions into the rollups
    # Hooks still to become events (tests/test_architecture.py lists them as debt).
    c.audit.on_appended(c.audit_log.after_append)
    c.route_limits.on_refused(partial(audit_rate_limited, c.audit))
    c.audit.on_recorded(c.detectors.observe)  # the detectors watch the committed events
    c.subjects.set_emit(c.webhooks.emit)
    c.screening.on_imported(c.screening_monitor.after_import)  # re-screen monitored subjects
    c.hosted.on_consent(lambda s, row, actor, version, locale: c.consents.record(
        s, row, version=version, locale=locale, ip=actor.ip))
    c.hosted.privacy.connect(current=c.consents.current, withdraw=c.consents.withdraw)


def _session_webhook(sessions: SessionService, webhooks: WebhookService, s: Session,
                     event: SessionEvent) -> None:
    """The webhook outbox: every session lifecycle event, in the same transaction."""
    webhooks.emit(s, event.tenant_id, event.name, sessions.event_payload(s, event))


def _sweep(c: Container) -> dict[str, int]:
    """Deadlines after a crash (images, expiries, lost jobs), and the daily purge if enabled."""
    out = dict(c.captures.sweep())
    if c.settings.privacy.daily_purge:
        out.update(c.retention.sweep())
    return out


@dataclass(frozen=True, slots=True)
class _Auth:
    clients: ClientService
    keys: SigningKeyRing
    revocations: RevocationList
    oauth: OAuthService
    bearer: BearerVerifier
    mtls: ClientTlsService


def _auth(settings: Settings, db: Database, audit: AuditService, secret: bytes, clock: Clock,
          guard: BruteForceGuard) -> _Auth:
    clients = ClientService(db, audit, SecretHasher(derive(secret, "client-secret-pepper")),
                            clock, cache_seconds=settings.auth.client_cache_seconds)
    keys = SigningKeyRing(db, derive(secret, "signing-key-seal"), audit, clock,
                          keep_previous_seconds=settings.auth.token_ttl_seconds
                          + settings.auth.leeway_seconds + 60)
    revocations = RevocationList(db, settings.auth.revocation_cache_seconds, clock)
    mtls = ClientTlsService(db, audit, clock)
    oauth = OAuthService(settings=settings, db=db, clients=clients, keys=keys,
                         revocations=revocations, audit=audit, guard=guard, clock=clock,
                         tls_check=mtls.check)
    bearer = BearerVerifier(settings, keys, revocations, clients, clock)
    return _Auth(clients, keys, revocations, oauth, bearer, mtls)


def _protection(settings: Settings, storage: str) -> tuple[BruteForceGuard, RouteLimits]:
    bf = settings.security.brute_force
    guard = BruteForceGuard(storage, max_failures=bf.max_failures,
                            window_seconds=bf.window_seconds, block_seconds=bf.block_seconds,
                            client_max_failures=bf.client_max_failures,
                            client_window_seconds=bf.client_window_seconds,
                            bearer_max_failures=bf.bearer_max_failures,
                            bearer_window_seconds=bf.bearer_window_seconds)
    route_limits = RouteLimits(RouteLimiter(storage, enabled=settings.security.rate_limits
                                            .enabled), settings.security.rate_limits)
    return guard, route_limits


def _console(settings: Settings, db: Database, audit: AuditService, secret: bytes,
             clock: Clock, storage: str) -> ConsoleService:
    ops = settings.operators
    sessions = ConsoleSessions(db, clock, idle=timedelta(minutes=ops.idle_minutes),
                               absolute=timedelta(hours=ops.absolute_hours),
                               pending=timedelta(minutes=ops.mfa_pending_minutes))
    return ConsoleService(
        db, audit, sessions,
        SignInThrottle(storage, derive(secret, "operator-throttle"), Limits(
            slow_after=ops.slow_after, lock_after=ops.lock_after,
            lock_seconds=round(ops.lock_minutes * 60), ip_slow_after=ops.ip_slow_after,
            ip_lock_after=ops.ip_lock_after)),
        SecretSealer(derive(secret, "operator-totp-seal")),
        derive(secret, "operator-recovery-pepper"), Relying(settings.public_url), clock,
        csrf_key=derive(secret, "console-csrf"),
        sso=build_sso(db, audit, sessions, derive(secret, "console-sso-seal"), ops.oidc,
                      settings.public_url, clock))


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
