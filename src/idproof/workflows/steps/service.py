"""The e-mail, phone and questionnaire steps of a session: send, confirm, answer."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import Conflict, IdproofError, TooManyRequests, ValidationFailed
from idproof.crypto.protection import DataProtection
from idproof.db.engine import Database
from idproof.db.tenancy import get_owned
from idproof.verification.decision import StepState
from idproof.verification.models import SessionStep, VerificationSession
from idproof.verification.service import Actor, SessionService
from idproof.workflows.flow import FlowNode
from idproof.workflows.models import SessionContact
from idproof.workflows.steps import otp
from idproof.workflows.steps.contact import parse_email, parse_phone
from idproof.workflows.steps.delivery import DeliveryError, SmsGateway, SmtpCodeSender, sms_text
from idproof.workflows.steps.otp_store import OtpStore
from idproof.workflows.steps.questionnaire import AnswerError, validate_answers
from idproof.workflows.variables import answer_values

_STATUS = {"otp_resend_too_soon": 429, "otp_send_limit": 429, "otp_already_verified": 409,
           "otp_replayed": 409, "otp_not_sent": 409}


def otp_problem(exc: otp.OtpError) -> IdproofError:
    """The problem+json of a refused send or check (no code, address or number in it)."""
    extra: dict[str, object] = {}
    if isinstance(exc, otp.OtpCheckFailed):
        extra["attempts_left"] = exc.attempts_left
    status = _STATUS.get(exc.code, 422)
    if status == 429:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        return TooManyRequests(exc.message, code=exc.code, headers=headers)
    if status == 409:
        return Conflict(exc.message, code=exc.code)
    return ValidationFailed(exc.message, code=exc.code, extra=extra)


@dataclass
class _Sent:
    to: str
    code: str


class ContactSteps:
    """Runs the steps that need no camera. A code is sent only after its state (hash,
    cooldown, send count) is stored, so a flood of requests sends nothing twice."""

    def __init__(self, db: Database, audit: AuditService, protection: DataProtection,
                 sessions: SessionService, store: OtpStore, otp_key: bytes, *,
                 email: SmtpCodeSender | None, sms: SmsGateway | None,
                 clock: Clock | None = None, policy: otp.OtpPolicy = otp.OtpPolicy()) -> None:
        self._db, self._audit, self._protection = db, audit, protection
        self._sessions, self._store, self._key = sessions, store, otp_key
        self._email, self._sms = email, sms
        self._clock = clock or SystemClock()
        self._policy = policy

    # -- e-mail and phone ----------------------------------------------------------------
    def send(self, actor: Actor, session_id: str, step: str, value: str) -> dict[str, Any]:
        """Record the address (sealed) and send a new code to it."""
        if step == "email":
            addr = _parsed(lambda: parse_email(value))
            target, facts = addr.address, {"verified": False, "domain": addr.domain,
                                           "disposable": addr.disposable}
        else:
            num = _parsed(lambda: parse_phone(value))
            target, facts = num.e164, {"verified": False, "country": num.country,
                                       "line_type": num.line_type}
        if (self._email if step == "email" else self._sms) is None:
            raise IdproofError(f"no {step} sender is configured", code="step_unavailable",
                               status=503)
        with self._db.session() as s:
            row, st = self._open_step(s, actor, session_id, step)
            scope = f"{row.id}:{step}"
            now = self._clock.now().timestamp()
            try:
                state, code = self._store.update(scope, lambda prev: _issued(otp.issue(
                    prev, self._key, scope, now, self._policy)))
            except otp.OtpError as exc:
                raise otp_problem(exc) from None
            self._seal(s, row, step, target)
            st.facts = facts
            self._record(s, actor, row, f"session.{step}_code_sent", {"sends": state.sends})
        self._deliver(step, _Sent(target, code))
        return {"step": step, "sent": True, "expires_in": self._policy.ttl_seconds,
                "resend_after": self._policy.resend_cooldown_seconds}

    def confirm(self, actor: Actor, session_id: str, step: str, code: str) -> dict[str, Any]:
        """Check a code; the step passes when right, fails when the attempts run out."""
        failure: otp.OtpError | None = None
        with self._db.session() as s:
            row, st = self._open_step(s, actor, session_id, step)
            scope = f"{row.id}:{step}"
            now = self._clock.now().timestamp()
            try:
                self._store.update(scope, lambda cur: (otp.check(
                    cur, self._key, scope, code, now, self._policy), None))
            except otp.OtpError as exc:
                failure = exc
            if failure is None:
                self._finish(s, actor, row, st, StepState.PASSED, (), {"verified": True})
            elif failure.code == "otp_too_many_attempts" or (
                    isinstance(failure, otp.OtpCheckFailed) and failure.attempts_left == 0):
                self._finish(s, actor, row, st, StepState.FAILED,
                             (f"{step}_code_attempts_exceeded",), {"verified": False})
            else:
                self._record(s, actor, row, f"session.{step}_code_refused",
                             {"code": failure.code})
        if failure is not None:
            raise otp_problem(failure)
        return {"step": step, "state": StepState.PASSED.value}

    def resend(self, actor: Actor, session_id: str, step: str) -> dict[str, Any]:
        """A new code to the address or number given before (the hosted page's resend:
        the person does not type it again); the same cooldown and send cap apply."""
        with self._db.read() as s:
            row = get_owned(s, VerificationSession, session_id, actor.tenant_id)
            hit = s.get(SessionContact, (row.id, step))
            if hit is None:
                raise Conflict("no code was sent for this step", code="otp_not_sent")
            key_id = self._protection.subject_key(row.tenant_id, row.subject_key_id)
            value = self._protection.decrypt(row.tenant_id, "session_contacts",
                                             "sealed_value", f"{row.id}:{step}", key_id,
                                             hit.sealed_value).decode()
        return self.send(actor, session_id, step, value)

    def code_status(self, session_id: str, step: str) -> tuple[bool, int]:
        """(a code was sent and is not yet used, seconds until another may be sent) for the
        hosted page; reads the code state without changing it."""
        state = self._store.update(f"{session_id}:{step}", lambda cur: (None, cur))
        if state is None or state.verified:
            return False, 0
        wait = state.issued_at + self._policy.resend_cooldown_seconds \
            - self._clock.now().timestamp()
        return True, max(0, int(wait + 0.999))

    def questions(self, tenant_id: str, session_id: str) -> tuple[Any, ...]:
        """The questions of the session's questionnaire step, in order."""
        with self._db.read() as s:
            row = get_owned(s, VerificationSession, session_id, tenant_id)
            wf = self._sessions.workflow_of(row)
            nodes = wf.flow.nodes.values() if wf.flow is not None else ()
            return next((n.questions for n in nodes if n.type == "questionnaire"), ())

    # -- questionnaire -------------------------------------------------------------------
    def answer(self, actor: Actor, session_id: str, answers: Mapping[str, Any]
               ) -> dict[str, Any]:
        with self._db.session() as s:
            row, st = self._open_step(s, actor, session_id, "questionnaire")
            node = _node(self._sessions, row, "questionnaire")
            try:
                clean = validate_answers(node.questions, answers)
            except AnswerError as exc:
                raise ValidationFailed("some answers are not valid", code=exc.code,
                                       extra={"problems": exc.problems}) from None
            self._seal(s, row, "questionnaire", json.dumps(clean, sort_keys=True))
            # What rules read as `answers.<id>`: the choices and checkboxes only (the text
            # and date answers stay sealed above).
            readable = answer_values(tuple((q.id, q.type) for q in node.questions), clean)
            self._finish(s, actor, row, st, StepState.PASSED, (), {"answers": readable})
        return {"step": "questionnaire", "state": StepState.PASSED.value}

    # -- shared --------------------------------------------------------------------------
    def _open_step(self, s: Session, actor: Actor, session_id: str, step: str
                   ) -> tuple[VerificationSession, SessionStep]:
        row = self._sessions.load_for_update(s, actor.tenant_id, session_id)
        self._sessions.ensure_open(row)
        if row.submitted_at is not None:
            raise Conflict("the session was submitted already", code="already_submitted")
        st = self._sessions.find_step(s, row.id, step)
        if st is None:
            raise Conflict(f"the session's workflow has no {step} step",
                           code="step_not_in_workflow")
        if st.state in (StepState.PASSED.value, StepState.FAILED.value):
            raise Conflict(f"the {step} step is finished", code="step_finished")
        return row, st

    def _seal(self, s: Session, row: VerificationSession, step: str, value: str) -> None:
        key_id = self._protection.subject_key(row.tenant_id, row.subject_key_id)
        sealed = self._protection.encrypt(row.tenant_id, "session_contacts", "sealed_value",
                                          f"{row.id}:{step}", key_id, value)
        index = (self._protection.blind_index(row.tenant_id, step, value)
                 if step in ("email", "phone") else None)
        hit = s.get(SessionContact, (row.id, step))
        if hit is None:
            s.add(SessionContact(session_id=row.id, step=step, tenant_id=row.tenant_id,
                                 sealed_value=sealed, value_index=index,
                                 created_at=self._clock.now()))
        else:
            hit.sealed_value, hit.value_index = sealed, index

    def _finish(self, s: Session, actor: Actor, row: VerificationSession, st: SessionStep,
                state: StepState, reasons: tuple[str, ...], facts: dict[str, Any]) -> None:
        self._sessions.record_step(s, row, st, state, reasons=reasons,
                                   facts={**(st.facts or {}), **facts},
                                   attempts=st.attempts + 1)
        self._record(s, actor, row, f"session.{st.step}_processed",
                     {"state": state.value, "reasons": list(reasons)})
        self._sessions.decide_if_complete(s, row, self._sessions.workflow_of(row))

    def _record(self, s: Session, actor: Actor, row: VerificationSession, action: str,
                details: dict[str, Any]) -> None:
        self._sessions.touch(s, row)
        self._audit.record_in(s, AuditEvent(
            action=action, actor_type=actor.actor_type, actor_id=actor.client_id,
            tenant_id=row.tenant_id, target_type="session", target_id=row.id, ip=actor.ip,
            request_id=actor.request_id, details=details))

    def _deliver(self, step: str, sent: _Sent) -> None:
        minutes = self._policy.ttl_seconds // 60
        try:
            if step == "email":
                assert self._email is not None
                self._email.send_code(sent.to, sent.code, minutes=minutes)
            else:
                assert self._sms is not None
                self._sms.send_sms(sent.to, sms_text(sent.code, minutes))
        except DeliveryError as exc:
            raise IdproofError(str(exc), code="code_delivery_failed", status=503) from None


def _issued(pair: tuple[otp.OtpState, str]) -> tuple[otp.OtpState, tuple[otp.OtpState, str]]:
    return pair[0], pair


def _parsed(fn: Any) -> Any:
    try:
        return fn()
    except otp.OtpError as exc:
        raise ValidationFailed(exc.message, code=exc.code) from None


def _node(sessions: SessionService, row: VerificationSession, kind: str) -> FlowNode:
    wf = sessions.workflow_of(row)
    assert wf.flow is not None  # the step row exists, so the workflow is a graph with it
    return next(n for n in wf.flow.nodes.values() if n.type == kind)
