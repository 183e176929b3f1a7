"""The builders of groups of services that `bootstrap.build_container` wires together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from idproof.audit.service import AuditService
from idproof.auth.bearer import BearerVerifier
from idproof.auth.clients import ClientService
from idproof.auth.mtls_service import ClientTlsService
from idproof.auth.oauth import OAuthService
from idproof.auth.revocation import RevocationList
from idproof.auth.secret_hashing import SecretHasher
from idproof.auth.signing_keys import SigningKeyRing
from idproof.bootstrap_backends import make_huey
from idproof.config import Settings
from idproof.core.clock import Clock
from idproof.core.events import (
    EventBus,
)
from idproof.core.tasks import TaskQueue
from idproof.crypto.protection import DataProtection
from idproof.datadir import derive, load_server_secret
from idproof.db.engine import Database, open_database
from idproof.jobs import WEBHOOK_QUEUE_SUFFIX, Jobs
from idproof.operators.console import ConsoleService
from idproof.operators.passkeys import Relying
from idproof.operators.sealing import SecretSealer
from idproof.operators.sessions import ConsoleSessions
from idproof.operators.sso import build_sso
from idproof.operators.throttle import Limits, SignInThrottle
from idproof.privacy.residency import ResidencyGuard
from idproof.screening.service import ScreeningService
from idproof.security.brute_force import BruteForceGuard
from idproof.security.route_limits import RouteLimiter, RouteLimits
from idproof.signals.service import SignalService
from idproof.signals.sessions import decision_values as signal_values
from idproof.signals.setup import build_signals
from idproof.verification.biometrics.analysis import FaceAnalyzer
from idproof.verification.biometrics.engines import DlibFaceEngine
from idproof.verification.biometrics.pad import FrequencyPAD
from idproof.verification.links import LinkSigner
from idproof.verification.service import SessionService
from idproof.webhooks.service import WebhookService
from idproof.workflows.service import WorkflowService
from idproof.workflows.steps.screening_step import ScreeningStep
from idproof.workflows.steps.service import ContactSteps
from idproof.workflows.steps.wiring import build_contact_steps


def build_workflow_steps(settings: Settings, db: Database, audit: AuditService,
                    protection: DataProtection, sessions: SessionService, secret: bytes,
                    screening: ScreeningService, clock: Clock
                    ) -> tuple[ContactSteps, ScreeningStep]:
    """The e-mail, phone and questionnaire steps, and the screening step."""
    return (build_contact_steps(settings, db, audit, protection, sessions,
                                derive(secret, "workflow-otp"), clock),
            ScreeningStep(db, audit, protection, sessions, screening, clock))


def build_sessions(settings: Settings, db: Database, audit: AuditService, secret: bytes,
              events: EventBus, clock: Clock, workflows: WorkflowService,
              protection: DataProtection) -> tuple[SignalService, SessionService]:
    """The sessions, whose workflow rules read the fraud signals' values (`signals.*`)."""
    signals = build_signals(db, audit, protection, derive(secret, "signals-hash"), clock,
                            settings.signals)
    sessions = SessionService(db, audit, LinkSigner(derive(secret, "hosted-link")),
                              settings.public_url, events, clock, workflows=workflows,
                              signals=partial(signal_values, signals, protection))
    return signals, sessions


def build_platform(settings: Settings) -> tuple[bytes, Database, Jobs]:
    """The server secret, the database and the job queues."""
    secret = load_server_secret(settings)
    db = open_database(settings.sqlalchemy_url())
    jobs = Jobs(make_huey(settings), webhook_threads=settings.jobs.webhook_threads,
                webhook_huey=make_huey(settings, suffix=WEBHOOK_QUEUE_SUFFIX))
    return secret, db, jobs


def build_webhooks(settings: Settings, db: Database, audit: AuditService, secret: bytes,
              queue: TaskQueue, clock: Clock) -> WebhookService:
    wh = settings.webhooks
    return WebhookService(db, audit, derive(secret, "webhook-secret-seal"), tasks=queue,
                          allow_private_networks=settings.webhook_allow_private_networks,
                          timeout_seconds=wh.timeout_seconds,
                          deadline_seconds=wh.deadline_seconds, schedule=wh.schedule,
                          secret_grace=timedelta(hours=wh.secret_grace_hours),
                          sweep_batch=wh.sweep_batch, clock=clock,
                          retention=timedelta(days=wh.retention_days))


def job_deadlines(settings: Settings) -> dict[str, timedelta]:
    """A document job stuck this long is queued again; past the timeout the session is
    decided without it."""
    return {"stuck_after": timedelta(seconds=settings.jobs.stuck_after_seconds),
            "job_timeout": timedelta(seconds=settings.jobs.timeout_seconds)}


def default_face_analyzer() -> FaceAnalyzer:
    # One face engine per process: its models load on first use and stay loaded.
    face_engine = DlibFaceEngine()
    return FaceAnalyzer(face_engine, face_engine, FrequencyPAD())


def region_lookup(db: Database) -> Callable[[str], str | None]:
    from idproof.auth.models import Tenant

    def region(tenant_id: str) -> str | None:
        with db.read() as s:
            row = s.get(Tenant, tenant_id)
            return row.region if row is not None else None

    return region


@dataclass(frozen=True, slots=True)
class AuthServices:
    clients: ClientService
    keys: SigningKeyRing
    revocations: RevocationList
    oauth: OAuthService
    bearer: BearerVerifier
    mtls: ClientTlsService


def build_auth(settings: Settings, db: Database, audit: AuditService, secret: bytes, clock: Clock,
          guard: BruteForceGuard, residency: ResidencyGuard) -> AuthServices:
    clients = ClientService(db, audit, SecretHasher(derive(secret, "client-secret-pepper")),
                            clock, cache_seconds=settings.auth.client_cache_seconds)
    keys = SigningKeyRing(db, derive(secret, "signing-key-seal"), audit, clock,
                          keep_previous_seconds=settings.auth.token_ttl_seconds
                          + settings.auth.leeway_seconds + 60)
    revocations = RevocationList(db, settings.auth.revocation_cache_seconds, clock)
    mtls = ClientTlsService(db, audit, clock)
    oauth = OAuthService(settings=settings, db=db, clients=clients, keys=keys,
                         revocations=revocations, audit=audit, guard=guard, clock=clock,
                         tls_check=mtls.check, tenant_check=residency.check)
    bearer = BearerVerifier(settings, keys, revocations, clients, clock)
    return AuthServices(clients, keys, revocations, oauth, bearer, mtls)


def build_protection(settings: Settings) -> tuple[str, BruteForceGuard, RouteLimits]:
    """The shared counters' storage (Redis when configured), the guard and the limits."""
    storage = settings.redis_url.get_secret_value() if settings.redis_url else "memory://"
    bf = settings.security.brute_force
    guard = BruteForceGuard(storage, max_failures=bf.max_failures,
                            window_seconds=bf.window_seconds, block_seconds=bf.block_seconds,
                            client_max_failures=bf.client_max_failures,
                            client_window_seconds=bf.client_window_seconds,
                            bearer_max_failures=bf.bearer_max_failures,
                            bearer_window_seconds=bf.bearer_window_seconds)
    route_limits = RouteLimits(RouteLimiter(storage, enabled=settings.security.rate_limits
                                            .enabled), settings.security.rate_limits)
    return storage, guard, route_limits


def build_console(settings: Settings, db: Database, audit: AuditService, secret: bytes,
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
