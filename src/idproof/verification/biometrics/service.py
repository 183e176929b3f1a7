"""Biometric use cases: selfie face match, liveness challenges and answers."""
# Privacy design (see docs/api/biometrics.md): selfies and liveness frames are processed
# synchronously inside the request, in memory, and dropped when it returns. They are never
# written to the database, the blob store, a temporary file, a log or a job payload. What is
# kept: step state, reason codes, boolean facts, and until the decision the selfie's embedding
# sealed under the person's data key (so a selfie sent before the document can be matched at
# submit, and liveness frames compared with the selfie). The document portrait comes from the
# document front already sealed in the blob store, decrypted in memory for each comparison.

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
import structlog
from pydantic import BaseModel
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import Conflict, NotFound, ValidationFailed
from idproof.core.events import (
    DocumentFrontStored,
    SessionDecided,
    SessionErased,
    SessionEvent,
    SessionExpired,
    SessionSubmitted,
)
from idproof.core.ids import new_id
from idproof.crypto.protection import DataProtection
from idproof.db.engine import Database
from idproof.db.tenancy import get_owned
from idproof.verification.biometrics import liveness as lv
from idproof.verification.biometrics.analysis import FaceAnalyzer, StillAnalysis, distance
from idproof.verification.biometrics.imaging import (
    FRAME_MAX_BYTES,
    FRAME_MAX_PIXELS,
    decode_clean,
    decode_upload,
)
from idproof.verification.biometrics.models import LivenessChallenge, SelfieTemplate
from idproof.verification.biometrics.probe import PoseFeedback, probe_upload
from idproof.verification.biometrics.protocols import PadScore, Vector
from idproof.verification.blobs import BlobStore
from idproof.verification.decision import StepState
from idproof.verification.models import Capture, SessionStep, VerificationSession
from idproof.verification.schemas import SessionView
from idproof.verification.service import Actor, SessionService
from idproof.workflows.catalog import Workflow

log = structlog.get_logger("idproof.biometrics")

CHALLENGE_TTL = timedelta(seconds=90)


class ChallengeView(BaseModel):
    challenge_id: str
    actions: list[str]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    """What the selfie step records: state, reasons, facts (no biometric data)."""

    state: StepState
    reasons: tuple[str, ...]
    face_match: bool | None
    score: float | None = None  # the face distance (lower is closer), for workflow rules

    def facts(self) -> dict[str, bool | float]:
        """The step's facts: face_match, and face_score when the faces were compared."""
        out: dict[str, bool | float] = {}
        if self.face_match is not None:
            out["face_match"] = self.face_match
        if self.score is not None:
            out["face_score"] = self.score
        return out


def selfie_outcome(selfie: StillAnalysis, portrait: StillAnalysis, threshold: float,
                   retry_allowed: bool) -> MatchOutcome:
    """Pure: quality reasons ask for a retake while attempts remain; then compare."""
    if not selfie.usable:
        state = StepState.RETRY if retry_allowed else StepState.FAILED
        return MatchOutcome(state, selfie.reasons, None if retry_allowed else False)
    if not portrait.usable or portrait.embedding is None or selfie.embedding is None:
        # The document portrait cannot be compared: a person looks at it.
        return MatchOutcome(StepState.FAILED, portrait.reasons or ("no_face",), False)
    reasons: tuple[str, ...] = ()
    if selfie.pad is not None and selfie.pad.attack_suspected:
        reasons = ("presentation_attack_suspected",)
    score = round(float(distance(selfie.embedding, portrait.embedding)), 4)
    if score <= threshold:
        return MatchOutcome(StepState.PASSED, reasons, True, score)
    return MatchOutcome(StepState.FAILED, ("face_mismatch", *reasons), False, score)


class BiometricsService:
    def __init__(self, db: Database, audit: AuditService, protection: DataProtection,
                 blobs: BlobStore, sessions: SessionService, analyzer: FaceAnalyzer,
                 clock: Clock | None = None, policy: lv.LivenessPolicy | None = None) -> None:
        self._db = db
        self._audit = audit
        self._protection = protection
        self._blobs = blobs
        self._sessions = sessions
        self.analyzer = analyzer
        self._clock = clock or SystemClock()
        self._policy = policy or lv.LivenessPolicy()

    # -- helpers ---------------------------------------------------------------------------
    def _open_session(self, actor: Actor, session_id: str, step: str
                      ) -> tuple[VerificationSession, Workflow]:
        with self._db.read() as s:
            row = get_owned(s, VerificationSession, session_id, actor.tenant_id,
                            code="session_not_found")
            self._sessions.ensure_open(row)
            wf = self._sessions.workflow_of(row)
            st = s.get(SessionStep, (row.id, step))
            state = st.state if st is not None else None
            s.expunge(row)
        if step not in wf.steps:
            raise ValidationFailed(f"this workflow has no {step} step",
                                   code="step_not_in_workflow")
        # A final result stands: a failed face match cannot be overwritten by another try
        # with someone else's photo, and retakes stop when the attempts run out.
        if state in {StepState.PASSED.value, StepState.FAILED.value}:
            raise Conflict(f"the {step} step has its result already", code="step_complete")
        return row, wf

    @staticmethod
    def _front(s: Session, session_id: str) -> Capture | None:
        return s.scalar(select(Capture).where(
            Capture.session_id == session_id, Capture.kind == "document_front",
            Capture.deleted_at.is_(None)).order_by(Capture.created_at.desc()).limit(1))

    def _portrait(self, row: VerificationSession, s: Session | None = None
                  ) -> StillAnalysis | None:
        """The document front, decrypted in memory, analysed as the reference face; None
        while no front was uploaded."""
        if s is None:
            with self._db.read() as rs:
                cap = self._front(rs, row.id)
                found = (cap.id, cap.blob_key) if cap is not None else None
        else:
            cap = self._front(s, row.id)
            found = (cap.id, cap.blob_key) if cap is not None else None
        if found is None:
            return None
        cap_id, blob_key = found
        key_id = self._protection.subject_key(row.tenant_id, row.subject_key_id)
        image = decode_clean(self._protection.decrypt(
            row.tenant_id, "session_captures", "image", cap_id, key_id,
            self._blobs.get(blob_key)))
        try:
            return self.analyzer.analyze_still(image, single_face=False)
        finally:
            del image

    def _record(self, actor: Actor, session_id: str, step_name: str, state: StepState,
                reasons: Sequence[str], facts: dict[str, bool | float], action: str,
                details: dict[str, object],
                template: tuple[bytes, bool] | None = None) -> None:
        with self._db.session() as s:
            row = self._sessions.load_for_update(s, actor.tenant_id, session_id)
            self._sessions.ensure_open(row)
            if template is not None:
                t = s.get(SelfieTemplate, row.id)
                if t is None:
                    t = SelfieTemplate(session_id=row.id, tenant_id=row.tenant_id,
                                       sealed_embedding=template[0],
                                       pad_suspected=template[1],
                                       created_at=self._clock.now())
                    s.add(t)
                else:
                    t.sealed_embedding, t.pad_suspected = template
                    t.created_at = self._clock.now()
            step = self._sessions.find_step(s, row.id, step_name)
            if step is None:  # pragma: no cover - checked before processing
                raise ValidationFailed("step not in workflow", code="step_not_in_workflow")
            self._sessions.record_step(s, row, step, state, reasons=reasons, facts=facts,
                                       attempts=step.attempts + 1, activity=True)
            self._audit.record_in(s, AuditEvent(
                action=action, actor_type=actor.actor_type, actor_id=actor.client_id,
                tenant_id=row.tenant_id, target_type="session", target_id=row.id,
                ip=actor.ip, request_id=actor.request_id,
                details={"state": state.value, "reasons": list(reasons), **details}))

    def _seal(self, row: VerificationSession, embedding: Vector) -> bytes:
        key_id = self._protection.subject_key(row.tenant_id, row.subject_key_id)
        return self._protection.encrypt(row.tenant_id, "selfie_templates", "sealed_embedding",
                                        row.id, key_id, embedding.astype("<f8").tobytes())

    def _unseal(self, row: VerificationSession, sealed: bytes) -> Vector:
        key_id = self._protection.subject_key(row.tenant_id, row.subject_key_id)
        raw = self._protection.decrypt(row.tenant_id, "selfie_templates", "sealed_embedding",
                                       row.id, key_id, sealed)
        return np.frombuffer(raw, dtype="<f8").astype(np.float64)

    def _selfie_template(self, row: VerificationSession) -> Vector | None:
        with self._db.read() as s:
            t = s.get(SelfieTemplate, row.id)
            sealed = t.sealed_embedding if t is not None else None
        return self._unseal(row, sealed) if sealed is not None else None

    def session_changed(self, s: Session, event: SessionEvent) -> None:
        """A pending selfie is matched at submit; embeddings go when the session ends."""
        if isinstance(event, SessionSubmitted):
            row = s.get(VerificationSession, event.session_id)
            if row is not None:
                self._complete_pending_selfie(s, row)
        elif isinstance(event, SessionDecided | SessionExpired | SessionErased):
            # Embeddings are discarded at the decision (or when the session ends otherwise).
            s.execute(delete(SelfieTemplate)
                      .where(SelfieTemplate.session_id == event.session_id))

    def _complete_pending_selfie(self, s: Session, row: VerificationSession) -> None:
        """A selfie taken before the document: match it now, before the decision."""
        step = self._sessions.find_step(s, row.id, "selfie")
        template = s.get(SelfieTemplate, row.id)
        if step is None or step.state != StepState.PROCESSING.value or template is None:
            return
        wf = self._sessions.workflow_of(row)
        pad = PadScore(0.0, template.pad_suspected, {})
        selfie = StillAnalysis(self._unseal(row, template.sealed_embedding), (), pad=pad)
        portrait = self._portrait(row, s) or StillAnalysis(None, ("no_face",))
        outcome = selfie_outcome(selfie, portrait, wf.face.match_threshold, False)
        del selfie, portrait
        self._sessions.record_step(
            s, row, step, outcome.state, reasons=outcome.reasons,
            facts={"face_match": bool(outcome.face_match), **outcome.facts()})
        self._audit.record_in(s, AuditEvent(
            action="session.selfie_processed", tenant_id=row.tenant_id,
            target_type="session", target_id=row.id,
            details={"state": outcome.state.value, "reasons": list(outcome.reasons),
                     "deferred": True}))

    def _attempts(self, session_id: str, step: str) -> int:
        with self._db.read() as s:
            st = s.get(SessionStep, (session_id, step))
            return st.attempts if st is not None else 0

    def document_front_replaced(self, s: Session, event: DocumentFrontStored) -> None:
        """Face results were compared with the previous front: a new front voids them.

        Runs inside the transaction that stores a new document front (otherwise a selfie
        matched against one portrait would stand for a document with another)."""
        session_id = event.session_id
        row = s.get(VerificationSession, session_id)
        if row is None:  # pragma: no cover - published by the transaction that holds it
            return
        has_template = s.get(SelfieTemplate, session_id) is not None
        for name in ("selfie", "liveness"):
            st = self._sessions.find_step(s, session_id, name)
            if st is not None and st.state != StepState.PENDING.value:
                # The kept selfie is matched again with the new portrait at submit.
                again = name == "selfie" and has_template
                self._sessions.record_step(
                    s, row, st, StepState.PROCESSING if again else StepState.PENDING,
                    facts={})

    # -- selfie ----------------------------------------------------------------------------
    def submit_selfie(self, actor: Actor, session_id: str, data: bytes) -> SessionView:
        """Check, decode and compare a selfie with the document portrait, in memory."""
        row, wf = self._open_session(actor, session_id, "selfie")
        image = decode_upload(data)
        del data
        try:
            selfie = self.analyzer.analyze_still(image, with_pad=True)
        finally:
            del image
        portrait = self._portrait(row) if selfie.usable else None
        retry = self._attempts(row.id, "selfie") + 1 < wf.max_attempts
        template = None
        if selfie.usable and selfie.embedding is not None:
            pad_flag = selfie.pad is not None and selfie.pad.attack_suspected
            template = (self._seal(row, selfie.embedding), pad_flag)
        if selfie.usable and portrait is None:
            # No document front yet: the sealed template waits for it (matched at submit).
            outcome = MatchOutcome(StepState.PROCESSING, (), None)
        else:
            outcome = selfie_outcome(selfie, portrait or StillAnalysis(None, ("no_face",)),
                                     wf.face.match_threshold, retry)
        facts = outcome.facts()
        pad = selfie.pad.score if selfie.pad is not None else None
        # Plain embeddings go out of scope here; only the outcome and the sealed template stay.
        del selfie, portrait
        self._record(actor, row.id, "selfie", outcome.state, outcome.reasons, facts,
                     "session.selfie_processed",
                     {"pad_score": round(pad, 2) if pad is not None else None},
                     template=template)
        log.info("selfie_processed", session_id=row.id, state=outcome.state.value,
                 reasons=list(outcome.reasons))
        return self._sessions.get(actor.tenant_id, session_id)

    # -- liveness --------------------------------------------------------------------------
    def issue_challenge(self, actor: Actor, session_id: str) -> ChallengeView:
        """A new random challenge bound to the session, answerable once before it expires."""
        row, _wf = self._open_session(actor, session_id, "liveness")
        now = self._clock.now()
        challenge = LivenessChallenge(id=new_id("chl"), session_id=row.id,
                                      tenant_id=row.tenant_id, actions=lv.random_actions(),
                                      created_at=now, expires_at=now + CHALLENGE_TTL)
        with self._db.session() as s:
            locked = self._sessions.load_for_update(s, actor.tenant_id, session_id)
            self._sessions.ensure_open(locked)
            s.add(challenge)
            self._audit.record_in(s, AuditEvent(
                action="session.liveness_challenge_issued", actor_type=actor.actor_type,
                actor_id=actor.client_id, tenant_id=row.tenant_id, target_type="session",
                target_id=row.id, ip=actor.ip, request_id=actor.request_id,
                details={"challenge_id": challenge.id}))
        return ChallengeView(challenge_id=challenge.id, actions=list(challenge.actions),
                             expires_at=challenge.expires_at)

    def probe_pose(self, actor: Actor, session_id: str, data: bytes, action: str | None,
                   baseline: tuple[float, float, float] | None) -> PoseFeedback:
        """Live feedback on one small frame (probe.py): nothing is stored, logged or spent."""
        self._open_session(actor, session_id, "selfie" if action is None else "liveness")
        return probe_upload(self.analyzer.detector, data, action=action, baseline=baseline,
                            liveness=self._policy, quality=self.analyzer.quality)

    def _consume(self, actor: Actor, session_id: str, challenge_id: str) -> LivenessChallenge:
        """Mark the challenge answered, atomically: a second answer finds it used."""
        now = self._clock.now()
        with self._db.session() as s:
            ch = s.scalar(select(LivenessChallenge).where(
                LivenessChallenge.id == challenge_id,
                LivenessChallenge.session_id == session_id,
                LivenessChallenge.tenant_id == actor.tenant_id))
            if ch is None:
                raise NotFound("no such challenge for this session", code="challenge_not_found")
            if ch.used_at is not None:
                raise Conflict("this challenge was answered already; ask for a new one",
                               code="challenge_replayed")
            if ch.expires_at <= now:
                raise Conflict("the challenge expired; ask for a new one",
                               code="challenge_expired")
            done = s.execute(update(LivenessChallenge).where(
                LivenessChallenge.id == ch.id, LivenessChallenge.used_at.is_(None))
                .values(used_at=now))
            if done.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict("this challenge was answered already; ask for a new one",
                               code="challenge_replayed")
            s.expunge(ch)
            return ch

    def submit_liveness(self, actor: Actor, session_id: str, challenge_id: str,
                        frames: list[bytes], timestamps: list[int]) -> SessionView:
        """Answer a challenge with 10-40 JPEG frames; `frames` is emptied once they are
        decoded, so the bytes are dropped as early as possible."""
        row, wf = self._open_session(actor, session_id, "liveness")
        if not lv.MIN_FRAMES <= len(frames) <= lv.MAX_FRAMES:
            raise ValidationFailed(f"send {lv.MIN_FRAMES} to {lv.MAX_FRAMES} frames",
                                   code="invalid_frame_count")
        if len(timestamps) != len(frames):
            raise ValidationFailed("send one timestamp per frame", code="invalid_timestamps")
        # Every frame is checked (JPEG, size, pixels, bombs) before the challenge is spent.
        images = [decode_upload(f, jpeg_only=True, max_bytes=FRAME_MAX_BYTES,
                                max_pixels=FRAME_MAX_PIXELS) for f in frames]
        frames.clear()
        # The reference face: the selfie (sealed template) or else the document portrait;
        # without either, nothing is spent.
        reference = self._selfie_template(row)
        if reference is None:
            portrait = self._portrait(row)
            reference = portrait.embedding if portrait is not None else None
            del portrait
        if reference is None:
            raise Conflict("submit the selfie (or the document's front) first: the frames "
                           "are compared with it", code="reference_required")
        challenge = self._consume(actor, row.id, challenge_id)
        received = self._clock.now()
        try:
            observations = self.analyzer.observe_frames(images, timestamps)
        finally:
            images.clear()
        policy = replace(self._policy, match_distance=wf.face.match_threshold)
        result = lv.evaluate(challenge.actions, observations, reference, policy,
                             issued_ms=int(challenge.created_at.timestamp() * 1000),
                             received_ms=int(received.timestamp() * 1000))
        del observations, reference
        if result.passed:
            state = StepState.PASSED
        else:
            retry = self._attempts(row.id, "liveness") + 1 < wf.max_attempts
            state = StepState.RETRY if retry else StepState.FAILED
        self._record(actor, row.id, "liveness", state, result.reasons,
                     {"liveness_passed": result.passed}, "session.liveness_processed",
                     {"challenge_id": challenge.id, "failures": list(result.failures)})
        log.info("liveness_processed", session_id=row.id, state=state.value,
                 failures=list(result.failures))
        return self._sessions.get(actor.tenant_id, session_id)
