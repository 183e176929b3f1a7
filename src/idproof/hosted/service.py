"""Hosted-flow use cases: browser sessions, CSRF, consent, cancel and the capture steps.

The link is exchanged once for a random cookie (`link_exchange.py`); only its SHA-256 is
stored. CSRF tokens are HMACs of the cookie under a server key (synchronizer tokens that need no
storage). Captures go through the same services the API uses, as an `end_user` actor.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.auth.clients import ClientService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import Conflict, IdproofError, ValidationFailed
from idproof.core.ids import new_id
from idproof.db.engine import Database
from idproof.hosted.branding import BrandingService
from idproof.hosted.browser import cookie_hash
from idproof.hosted.flow import (
    NOT_ATTEMPTED,
    PERSON_PAGES,
    Page,
    StepInfo,
    early_stop,
    next_page,
)
from idproof.hosted.handoff import HandoffService
from idproof.hosted.i18n import CONSENT_VERSION
from idproof.hosted.link_exchange import LinkExchange, Opened
from idproof.hosted.models import BrowserSession, ConsentRecord
from idproof.hosted.privacy_hooks import ConsentKeeper, PrivacyHooks
from idproof.hosted.steps import HostedSteps, page_steps
from idproof.verification.captures import CaptureService
from idproof.verification.decision import HARD_DECLINES, StepState
from idproof.verification.document.accepted import EVERYTHING, AcceptedDocuments
from idproof.verification.lifecycle import Status
from idproof.verification.links import LinkSigner
from idproof.verification.models import SessionStep, VerificationSession
from idproof.verification.schemas import SessionView
from idproof.verification.service import Actor, SessionService
from idproof.workflows.catalog import Workflow
from idproof.workflows.flow import Outcome
from idproof.workflows.steps.screening_step import ScreeningStep
from idproof.workflows.steps.service import ContactSteps


@dataclass(frozen=True, slots=True)
class Browser:
    """A live browser session: which verification session this cookie may act on."""

    id: str
    session_id: str
    tenant_id: str
    document_type: str | None
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class FlowState:
    view: SessionView
    workflow: Workflow
    page: Page
    locale: str | None
    callback_url: str | None
    origins: tuple[str, ...]
    reasons: tuple[str, ...]
    # The tenant's accepted issuing countries and document types (the document page's lists).
    accepted: AcceptedDocuments = EVERYTHING


class HostedService:
    def __init__(self, db: Database, audit: AuditService, links: LinkSigner,
                 sessions: SessionService, captures: CaptureService, clients: ClientService,
                 csrf_key: bytes, clock: Clock | None = None,
                 biometrics: Any | None = None, consents: ConsentKeeper | None = None,
                 tenant_check: Callable[[str], None] | None = None,
                 steps: ContactSteps | None = None, screening: ScreeningStep | None = None
                 ) -> None:
        self._db = db
        self._audit = audit
        self._links = links
        self._sessions = sessions
        self._captures = captures
        self._clients = clients
        self._csrf_key = csrf_key
        self._clock = clock or SystemClock()
        # The selfie and liveness checks (BiometricsService); None: not on this server.
        self._biometrics: Any | None = biometrics
        # Residency (ResidencyGuard.check): raises for a tenant served by another region.
        self._tenant_check = tenant_check or (lambda _t: None)
        self._exchange = LinkExchange(db, audit, links, clients, sessions, self._clock,
                                      self._tenant_check)
        self.handoffs = HandoffService(db, audit, self._clock)
        self.branding = BrandingService(db, audit, self._clock)
        # The tenant's consent texts, the records of acceptances, and withdrawal.
        self.privacy = PrivacyHooks(consents)
        # The e-mail, phone and questionnaire pages, and screening when it is due.
        self.steps = HostedSteps(db, sessions, steps, screening)
        # How long a document upload's response waits for the worker's quality verdict, so
        # a retake is asked for on the same step (0: move on at once, as with no worker).
        self.settle_seconds = 8.0

    # -- link exchange (link_exchange.py) -----------------------------------------------
    def open_link(self, token: str, *, cookie: str | None, ip: str | None,
                  request_id: str | None) -> Opened:
        return self._exchange.open_link(token, cookie=cookie, ip=ip, request_id=request_id)

    def peek_link(self, token: str) -> Opened:
        return self._exchange.peek_link(token)

    def resolve(self, cookie: str | None) -> Browser | None:
        if not cookie or len(cookie) > 128:
            return None
        with self._db.read() as s:
            row = s.scalar(select(BrowserSession).where(
                BrowserSession.cookie_hash == cookie_hash(cookie)))
            if row is None or row.expires_at <= self._clock.now():
                return None
            browser = Browser(row.id, row.session_id, row.tenant_id, row.document_type,
                              row.expires_at)
        try:  # a browser session of another region's tenant is not honoured here
            self._tenant_check(browser.tenant_id)
        except IdproofError:
            return None
        return browser

    # -- CSRF ----------------------------------------------------------------------------
    def csrf_token(self, cookie: str) -> str:
        # Hex, not base64url: about one token in a hundred held `--`, which a web application
        # firewall reads as an SQL comment (the OWASP CRS refused such a consent form, 942440).
        return hmac.new(self._csrf_key, b"idproof/csrf/v1/" + cookie.encode(),
                        hashlib.sha256).hexdigest()

    def check_csrf(self, cookie: str, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf_token(cookie),
                                                       str(presented))

    def record_csrf_failure(self, browser: Browser | None, ip: str | None,
                            request_id: str | None) -> None:
        self._audit.record(AuditEvent(
            action="hosted.csrf_rejected", outcome="failure", actor_type="end_user",
            actor_id=browser.id if browser else None,
            tenant_id=browser.tenant_id if browser else None, target_type="session",
            target_id=browser.session_id if browser else None, ip=ip, request_id=request_id))

    # -- state ---------------------------------------------------------------------------
    def consented(self, session_id: str) -> bool:
        with self._db.read() as s:
            return s.scalar(select(ConsentRecord.id).where(
                ConsentRecord.session_id == session_id)) is not None

    def state(self, browser: Browser) -> FlowState:
        with self._db.read() as s:
            row = s.get(VerificationSession, browser.session_id)
            assert row is not None  # the browser session row cascades with it
            locale, callback, client_id = row.locale, row.callback_url, row.client_id
            expired = (row.expires_at <= self._clock.now()
                       and Status(row.status) in {Status.NOT_STARTED, Status.IN_PROGRESS})
            consented = s.scalar(select(ConsentRecord.id).where(
                ConsentRecord.session_id == row.id)) is not None
            workflow = self._sessions.workflow_of(row)
            accepted = self._sessions.accepted_documents(row.tenant_id, s)
            outcomes = {st.step: Outcome(st.state, tuple(st.reasons or ()), dict(st.facts or {}))
                        for st in s.scalars(select(SessionStep).where(
                            SessionStep.session_id == row.id))}
        view = self._sessions.get(browser.tenant_id, browser.session_id)
        steps = [StepInfo(st.step, st.state, tuple(st.reasons), st.attempts)
                 for st in view.steps]
        # The pages of the steps the person meets, in order (a graph: on its path so far).
        page = next_page("expired" if expired else view.status, steps,
                         page_steps(workflow, outcomes), consented=consented)
        reasons: tuple[str, ...] = ()
        if page.name == "done":
            reasons = tuple(self._sessions.decision(browser.tenant_id, view.id).reasons)
        client = self._clients.get(client_id) if client_id else None
        origins = client.allowed_origins if client is not None else ()
        return FlowState(view, workflow, page, locale, callback, origins, reasons, accepted)

    def origins(self, browser: Browser) -> tuple[str, ...]:
        """The web origins registered for the session's client (who may frame the pages)."""
        with self._db.read() as s:
            client_id = s.scalar(select(VerificationSession.client_id).where(
                VerificationSession.id == browser.session_id))
        client = self._clients.get(client_id) if client_id else None
        return client.allowed_origins if client is not None else ()

    def actor(self, browser: Browser, ip: str | None, request_id: str | None) -> Actor:
        return Actor(tenant_id=browser.tenant_id, client_id=browser.id, ip=ip,
                     request_id=request_id, actor_type="end_user")

    def _require_consent(self, browser: Browser) -> None:
        if not self.consented(browser.session_id):
            raise Conflict("consent is required before any capture", code="consent_required")

    # -- consent -------------------------------------------------------------------------
    def give_consent(self, browser: Browser, actor: Actor, *, locale: str,
                     version: str) -> None:
        tenant_text = self.privacy.consent_text(browser.tenant_id, locale)
        if version not in {CONSENT_VERSION, tenant_text[0] if tenant_text else ""} - {""}:
            raise Conflict("the consent text changed; read it again",
                           code="consent_version_stale")
        try:
            self._record_consent(browser, actor, locale=locale, version=version)
        except IntegrityError:
            return  # a double submit racing the first one: the first record stands

    def _record_consent(self, browser: Browser, actor: Actor, *, locale: str,
                        version: str) -> None:
        with self._db.session() as s:
            row = self._sessions.load_for_update(s, browser.tenant_id, browser.session_id)
            self._sessions.ensure_open(row)
            if s.scalar(select(ConsentRecord.id).where(
                    ConsentRecord.session_id == row.id)) is not None:
                return  # a double submit: the first record stands
            s.add(ConsentRecord(id=new_id("cns"), session_id=row.id, tenant_id=row.tenant_id,
                                text_version=version, locale=locale,
                                accepted_at=self._clock.now()))
            self.privacy.record(s, row, actor, version=version, locale=locale)
            self._sessions.touch(s, row)
            self._audit.record_in(s, AuditEvent(
                action="hosted.consent_given", actor_type="end_user", actor_id=actor.client_id,
                tenant_id=row.tenant_id, target_type="session", target_id=row.id,
                ip=actor.ip, request_id=actor.request_id,
                details={"text_version": version, "locale": locale}))

    def cancel(self, browser: Browser, actor: Actor, *, via: str = "page") -> bool:
        """The person's own cancel (`via` "page" or "sdk"): status `cancelled`, the
        `session.cancelled` event and an audit event, in one transaction. False when the
        session was no longer open (submitted, decided or ended: nothing changes)."""
        with self._db.session() as s:
            row = self._sessions.load_for_update(s, browser.tenant_id, browser.session_id)
            if row.status not in {Status.NOT_STARTED.value, Status.IN_PROGRESS.value}:
                return False
            self._sessions.set_status(s, row, Status.CANCELLED)
            self._sessions.emit(s, row, "session.cancelled")
            self._audit.record_in(s, AuditEvent(
                action="session.cancelled", actor_type="end_user", actor_id=actor.client_id,
                tenant_id=row.tenant_id, target_type="session", target_id=row.id,
                ip=actor.ip, request_id=actor.request_id,
                details={"by": "end_user", "via": via}))
        return True

    def withdraw_consent(self, browser: Browser, actor: Actor) -> None:
        """The person withdraws consent from the hosted page: the privacy service's
        withdrawal for the session's subject (reference), within the session's tenant."""
        with self._db.read() as s:
            reference = s.scalar(select(VerificationSession.reference).where(
                VerificationSession.id == browser.session_id))
        if reference is None:
            return  # erased meanwhile: nothing left to withdraw
        self.privacy.withdraw(actor, reference)

    # -- captures ------------------------------------------------------------------------
    def upload_documents(self, browser: Browser, actor: Actor, *, document_type: str,
                         country: str | None, front: bytes, back: bytes | None) -> None:
        self._require_consent(browser)
        state = self.state(browser)
        policy, accepted = state.workflow.document, state.accepted
        # The workflow's lists and the tenant's: what the page offered (the job checks the
        # document itself whatever was chosen here).
        if document_type not in policy.types or not accepted.allows_type(document_type):
            raise ValidationFailed("this document type is not accepted",
                                   code="document_type_not_allowed")
        if country is not None and (not accepted.allows_country(country) or (
                policy.countries is not None and country not in policy.countries)):
            raise ValidationFailed("documents from this country are not accepted",
                                   code="country_not_allowed")
        if not front:
            raise ValidationFailed("the front side is missing", code="image_missing")
        needs_back = document_type in policy.back_required_for
        if needs_back and not back:
            raise ValidationFailed("the back side is needed for this document",
                                   code="back_required")
        with self._db.session() as s:
            row = s.get(BrowserSession, browser.id)
            if row is not None:
                row.document_type = document_type
        self._captures.upload_document(actor, browser.session_id, "front", front)
        if needs_back and back:
            self._captures.upload_document(actor, browser.session_id, "back", back)

    def _biometrics_service(self) -> Any:
        svc = self._biometrics
        if svc is None:
            raise Conflict("selfie and liveness checks are not available on this server",
                           code="biometrics_unavailable")
        return svc

    def step_state(self, browser: Browser, step: str) -> str | None:
        """One step's state now (a short read, polled while an upload's verdict is due)."""
        view = self._sessions.get(browser.tenant_id, browser.session_id)
        return next((st.state for st in view.steps if st.step == step), None)

    def submit_selfie(self, browser: Browser, actor: Actor, data: bytes) -> None:
        self._require_consent(browser)
        if not data:
            raise ValidationFailed("the photo is missing", code="image_missing")
        self._biometrics_service().submit_selfie(actor, browser.session_id, data)

    def issue_challenge(self, browser: Browser, actor: Actor) -> Any:
        self._require_consent(browser)
        return self._biometrics_service().issue_challenge(actor, browser.session_id)

    def submit_liveness(self, browser: Browser, actor: Actor, challenge_id: str,
                        frames: list[bytes], timestamps: list[int]) -> None:
        self._require_consent(browser)
        self._biometrics_service().submit_liveness(actor, browser.session_id, challenge_id,
                                                   frames, timestamps)

    def probe_pose(self, browser: Browser, actor: Actor, data: bytes, action: str | None,
                   baseline: tuple[float, float, float] | None) -> Any:
        """Live framing and pose feedback on one small frame (a PoseFeedback); stores nothing."""
        self._require_consent(browser)
        return self._biometrics_service().probe_pose(actor, browser.session_id, data, action,
                                                     baseline)

    def advance(self, browser: Browser, actor: Actor) -> FlowState:
        """The current state, submitting the session once every step has its result, or at
        once when a step failed for a reason the workflow declines (an early stop)."""
        state = self.state(browser)
        open_ = state.view.status in {Status.NOT_STARTED.value, Status.IN_PROGRESS.value}
        if open_ and "screening" in state.workflow.steps and state.page.name in {
                *PERSON_PAGES, "waiting", "submit"} \
                and self.steps.screen_if_due(browser.tenant_id, browser.session_id):
            state = self.state(browser)
        if state.page.name in {*PERSON_PAGES, "waiting"} and state.view.status in {
                Status.NOT_STARTED.value, Status.IN_PROGRESS.value}:
            steps = [StepInfo(st.step, st.state, tuple(st.reasons), st.attempts)
                     for st in state.view.steps]
            decisive = early_stop(steps, (*state.workflow.rules.decline, *HARD_DECLINES),
                                  state.workflow.rules.review)
            if decisive:
                self._stop_early(browser, actor, decisive)
                state = self.state(browser)
        if state.page.name == "submit":
            # A concurrent submit (a second tab) may win: the state read below says so.
            with contextlib.suppress(Conflict):
                self._captures.submit(actor, browser.session_id)
            state = self.state(browser)
        return state

    def _stop_early(self, browser: Browser, actor: Actor, decisive: tuple[str, ...]) -> None:
        """The outcome is decided: the steps not yet tried are closed as `not_attempted` (the
        person is not asked for a selfie and a video that cannot change the outcome) and the
        session is submitted through the usual path, which decides it once every result is
        in (a document still being read is waited for)."""
        with self._db.session() as s:
            row = self._sessions.load_for_update(s, browser.tenant_id, browser.session_id)
            if row.status not in {Status.NOT_STARTED.value, Status.IN_PROGRESS.value}:
                return
            workflow = self._sessions.workflow_of(row)
            closed: list[str] = []
            if workflow.flow is None:  # a graph workflow's path already leaves them out
                for st in s.scalars(select(SessionStep).where(
                        SessionStep.session_id == row.id)):
                    if st.state in {"pending", "retry"}:
                        self._sessions.record_step(s, row, st, StepState.FAILED,
                                                   reasons=(NOT_ATTEMPTED,))
                        closed.append(st.step)
                closed.sort(key=lambda k: workflow.steps.index(k) if k in workflow.steps
                            else len(workflow.steps))
            self._audit.record_in(s, AuditEvent(
                action="hosted.stopped_early", actor_type="end_user", actor_id=actor.client_id,
                tenant_id=row.tenant_id, target_type="session", target_id=row.id,
                ip=actor.ip, request_id=actor.request_id,
                details={"reasons": list(decisive), "not_attempted": closed}))
        with contextlib.suppress(Conflict):  # a second tab may have submitted it
            self._captures.submit(actor, browser.session_id)
