"""The composition root: initialise the data dir and build the container of services.

`build_container(settings)` is the one place that picks concrete backends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from sqlalchemy.orm import Session

from idproof.audit.assembly import build_audit
from idproof.audit.log import AuditLog
from idproof.audit.sequencer import Sequencer
from idproof.audit.service import AuditService
from idproof.auth.bearer import BearerVerifier
from idproof.auth.clients import ClientService
from idproof.auth.mtls_service import ClientTlsService
from idproof.auth.oauth import OAuthService
from idproof.auth.revocation import RevocationList
from idproof.auth.signing_keys import SigningKeyRing
from idproof.auth.tenants import TenantService
from idproof.bootstrap_alerts import audit_rate_limited, wire_alerts
from idproof.bootstrap_backends import open_blob_store, open_data_protection
from idproof.bootstrap_parts import (
    build_auth,
    build_console,
    build_platform,
    build_protection,
    build_sessions,
    build_webhooks,
    build_workflow_steps,
    default_face_analyzer,
    job_deadlines,
    region_lookup,
)
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
    StepRecorded,
)
from idproof.core.tasks import TaskQueue
from idproof.crypto.protection import DataProtection
from idproof.datadir import derive, init_data_dir
from idproof.db.engine import Database
from idproof.db.migrate import upgrade
from idproof.hosted.service import HostedService
from idproof.jobs import Jobs
from idproof.operators.accounts import OperatorAccounts
from idproof.operators.console import ConsoleService
from idproof.privacy.consent import ConsentService
from idproof.privacy.purge import RetentionService
from idproof.privacy.residency import ResidencyGuard, check_deployment
from idproof.privacy.subjects import SubjectService
from idproof.screening.monitoring import ScreeningMonitor
from idproof.screening.service import RESCREEN_TASK, ScreeningService
from idproof.security.alerts import AlertService
from idproof.security.brute_force import BruteForceGuard
from idproof.security.rate_limit import RateLimiter
from idproof.security.route_limits import RouteLimits
from idproof.security.threat_detectors import Detectors
from idproof.signals.service import SignalService
from idproof.signals.sessions import session_changed as signals_session_changed
from idproof.signals.sessions import step_recorded as signals_step_recorded
from idproof.vault.service import VaultService
from idproof.verification.biometrics.analysis import FaceAnalyzer
from idproof.verification.biometrics.service import BiometricsService
from idproof.verification.captures import PROCESS_CAPTURE, CaptureService
from idproof.verification.document.reader import DocumentReader
from idproof.verification.links import LinkSigner
from idproof.verification.service import SessionService
from idproof.webhooks.service import DELIVER_WEBHOOK, WebhookService
from idproof.workflows.service import WorkflowService
from idproof.workflows.steps.screening_step import ScreeningStep
from idproof.workflows.steps.service import ContactSteps


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
    """The services wired together. Tests may replace the OCR and face engines
    (`document_reader`, `face_analyzer`) and the queue jobs are put on (`tasks`)."""
    clock = clock or SystemClock()
    check_deployment(settings)  # never write a tenant's data outside its declared region
    secret, db, jobs = build_platform(settings)
    events = EventBus()
    queue: TaskQueue = tasks or jobs
    audit, audit_log, audit_sequencer = build_audit(settings, db, secret, clock)
    tenants = TenantService(db, audit, clock, home_region=settings.residency.region)
    storage, guard, route_limits = build_protection(settings)
    residency = ResidencyGuard(settings.residency, region_lookup(db))  # API, tokens, pages
    auth = build_auth(settings, db, audit, secret, clock, guard, residency)
    protection = open_data_protection(settings, audit, clock)
    vault = VaultService(db, protection, audit, RateLimiter(storage), clock=clock,
                         detokenize_limit=settings.vault.detokenize_rate_limit)
    workflows = WorkflowService(db, audit, clock)
    signals, sessions = build_sessions(settings, db, audit, secret, events, clock, workflows,
                                  protection)
    blobs = open_blob_store(settings, db)
    captures = CaptureService(db, audit, protection, vault, blobs, sessions,
                              document_reader or DocumentReader(), events=events, tasks=queue,
                              retention=tenants.image_retention, clock=clock,
                              **job_deadlines(settings))
    retention = RetentionService(db, audit, captures, clock,
                                 batch=settings.privacy.purge_progress_every)
    webhooks = build_webhooks(settings, db, audit, secret, queue, clock)
    biometrics = BiometricsService(db, audit, protection, blobs, sessions,
                                   face_analyzer or default_face_analyzer(), clock)
    data = captures.subject_data  # a session's personal data, for the privacy operations
    subjects = SubjectService(db, audit, protection, blobs, data, clock, emit=webhooks.emit)
    consents = ConsentService(db, audit, sessions, data, subjects, clock)
    screening = ScreeningService(db, audit, clock, tasks=queue)
    contact_steps, screening_step = build_workflow_steps(settings, db, audit, protection, sessions,
                                                    secret, screening, clock)
    hosted = HostedService(db, audit, LinkSigner(derive(secret, "hosted-link")), sessions,
                           captures, auth.clients, derive(secret, "hosted-csrf"), clock,
                           biometrics=biometrics, consents=consents,
                           tenant_check=residency.check, steps=contact_steps,
                           screening=screening_step)
    screening_monitor = ScreeningMonitor(db, audit, protection, screening, webhooks.emit, clock)
    alerts, detectors = wire_alerts(settings, db, audit, webhooks, guard, clock)
    container = Container(
        settings=settings, clock=clock, db=db, audit=audit, tenants=tenants,
        clients=auth.clients, keys=auth.keys, revocations=auth.revocations, guard=guard,
        mtls=auth.mtls, oauth=auth.oauth, bearer=auth.bearer, protection=protection,
        vault=vault, audit_log=audit_log, audit_sequencer=audit_sequencer, sessions=sessions,
        captures=captures, hosted=hosted, jobs=jobs, webhooks=webhooks, biometrics=biometrics,
        operators=OperatorAccounts(db, audit, settings.public_url, timedelta(
            hours=settings.operators.enrollment_ttl_hours), clock),
        console=build_console(settings, db, audit, secret, clock, storage), workflows=workflows,
        subjects=subjects, retention=retention, consents=consents, screening=screening,
        screening_monitor=screening_monitor, signals=signals, residency=residency,
        contact_steps=contact_steps, screening_step=screening_step,
        route_limits=route_limits, alerts=alerts, detectors=detectors)
    _wire(container, events)
    return container


def _wire(c: Container, events: EventBus) -> None:
    """Who reacts to what, in which order: the one place where services are connected."""
    # Events, handled inside the transaction that publishes them; for one event, the
    # handlers of its own class run first, then those of its base class, each in this order.
    events.subscribe(SessionDecided, c.captures.images_due)  # raw images become due
    events.subscribe(DocumentFrontStored, c.biometrics.document_front_replaced)
    # Every session's signals, from its document and selfie as their results are stored.
    events.subscribe(StepRecorded, partial(signals_step_recorded, c.signals, c.protection))
    # The screening step runs by itself once the session reaches it with its document read
    # (in the transaction that stored the step before it; the hosted flow checks too).
    events.subscribe(StepRecorded, c.screening_step.step_recorded)
    # Signals before the outbox: `session.decided` then carries the signals' reasons.
    events.subscribe(SessionEvent, partial(signals_session_changed, c.signals, c.sessions))
    events.subscribe(SessionEvent, partial(_session_webhook, c.sessions, c.webhooks))
    events.subscribe(SessionEvent, c.biometrics.session_changed)  # selfie at submit; cleanup
    events.subscribe(SessionErased, rollup_session_erased)  # the dashboard forgets it too
    # Tasks, run by a worker after the commit that queued them (ids only).
    c.jobs.handle(PROCESS_CAPTURE, c.captures.process, retries=3, retry_delay=2)
    # One attempt per task: the service keeps its own retry schedule, and its sweep queues
    # due deliveries again after a restart or a loss.
    c.jobs.handle(DELIVER_WEBHOOK, c.webhooks.deliver, queue="webhooks")
    # Ongoing monitoring: each activated list import queues a re-screening of the monitored
    # tenants' approved subjects against it.
    c.jobs.handle(RESCREEN_TASK, c.screening_monitor.rescreen, retries=2, retry_delay=30)
    c.jobs.every("sweep", partial(_sweep, c), minutes=c.settings.jobs.sweep_every_minutes)
    c.jobs.every("webhook_sweep", c.webhooks.sweep, queue="webhooks")
    c.jobs.every("console_rollup", partial(roll_up, c.db))  # final sessions into the rollups
    # Notifications (core.channel), after the fact; a failing listener is logged only.
    c.audit.appended.subscribe(c.audit_log.after_append)  # checkpoints as the tree grows
    c.audit.recorded.subscribe(c.detectors.observe)  # the detectors watch committed events
    c.route_limits.refused.subscribe(partial(audit_rate_limited, c.audit))
    c.guard.failed.subscribe(c.detectors.client_auth_failed)  # N failures block the IP


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


def start_background_services(container: Container, *, serving: bool = False) -> None:
    """What a long-running process (`idproof serve`, each of its workers, `idproof worker`)
    runs beside its requests: the audit sequencer (unless `audit.sequencer` is `inline`).

    With `process` (the default), `idproof serve` runs the sequencer in a process of its own
    (`serving`: this one only queues its events); elsewhere, as with `background`, a thread of
    this process stands for election."""
    mode = container.settings.audit.sequencer
    if mode == "process" and serving:
        container.audit.inline = False
    elif mode in ("process", "background"):
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
