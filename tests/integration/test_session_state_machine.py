"""Every path through a session ends: a hypothesis state machine over uploads, retakes,
submits, lost jobs, sweeps and the passing of time, on SQLite and PostgreSQL.

The services, database, encryption, blob store and queue hand-off are the real ones; only the
OCR and face engines answer from the image's colour (tests/colour_engines.py), so that the
machine chooses what each capture shows and runs thousands of steps quickly.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from idproof.bootstrap import Container
from idproof.core.clock import FrozenClock
from idproof.core.errors import IdproofError
from idproof.verification.lifecycle import DECIDED, FINAL, Status
from idproof.verification.schemas import CreateSession
from idproof.verification.service import Actor
from tests.colour_engines import capture
from tests.task_log import TaskLog

pytestmark = pytest.mark.slow

SETTLED = {s.value for s in FINAL | DECIDED}
JOB_TIMEOUT = timedelta(seconds=600)  # the default jobs.timeout_seconds


def _has(step: str):  # type: ignore[no-untyped-def]
    """Only for workflows with this step (others answer `step_not_in_workflow`)."""
    return precondition(lambda self: step in self.steps)


class SessionMachine(RuleBasedStateMachine):
    container: Container
    clock: FrozenClock
    queue: list[tuple[str, str]]

    def __init__(self) -> None:
        super().__init__()
        self.actor = Actor(tenant_id=self.container.tenants.find("demo").id,  # type: ignore[union-attr]
                           client_id="cli_machine")
        self.nonce = 0
        self.sid = ""
        self.steps: list[str] = []
        self.queue.clear()

    @initialize(workflow=st.sampled_from(["document_only", "document_selfie", "kyc_standard"]),
                expires_in=st.sampled_from([900, 3600, 7200, 86_400]))
    def create(self, workflow: str, expires_in: int) -> None:
        view, _url, _ = self.container.sessions.create(self.actor, CreateSession(
            reference="machine", workflow=workflow, expires_in=expires_in))
        self.sid = view.id
        self.workflow = workflow
        self.steps = [s.step for s in view.steps]

    # -- the person and the app -------------------------------------------------------------
    def _expect(self, fn, allowed: set[str]) -> None:  # type: ignore[no-untyped-def]
        try:
            fn()
            event("accepted")
        except IdproofError as exc:
            event(f"refused: {exc.code}")
            assert exc.code in allowed, (exc.code, exc.detail)
            assert exc.status in (409, 410, 422), exc.status

    def _next(self, kind: str) -> bytes:
        self.nonce += 1
        return capture(kind, self.nonce)

    @rule(side=st.sampled_from(["front", "back"]),
          kind=st.sampled_from(["good", "good", "unreadable", "forged"]))
    def upload_document(self, side: str, kind: str) -> None:
        data = self._next(kind)
        self._expect(lambda: self.container.captures.upload_document(
            self.actor, self.sid, side, data), {"session_closed", "session_expired"})

    @_has("selfie")
    @rule(kind=st.sampled_from(["face", "face", "other_face", "no_face"]))
    def selfie(self, kind: str) -> None:
        data = self._next(kind)
        self._expect(lambda: self.container.biometrics.submit_selfie(self.actor, self.sid, data),
                     {"session_closed", "session_expired", "step_not_in_workflow",
                      "step_complete"})

    @_has("liveness")
    @rule()
    def liveness(self) -> None:
        def answer() -> None:
            challenge = self.container.biometrics.issue_challenge(self.actor, self.sid)
            frames = [self._next("face") for _ in range(10)]
            start = int(self.clock.now().timestamp() * 1000)
            self.container.biometrics.submit_liveness(
                self.actor, self.sid, challenge.challenge_id, frames,
                [start + 200 * i for i in range(10)])
        self._expect(answer, {"session_closed", "session_expired", "step_not_in_workflow",
                              "step_complete", "reference_required"})

    @rule()
    def submit(self) -> None:
        self._expect(lambda: self.container.captures.submit(self.actor, self.sid),
                     {"steps_incomplete", "already_submitted", "session_closed",
                      "session_expired"})

    # -- the worker and time ---------------------------------------------------------------
    @precondition(lambda self: bool(self.queue))
    @rule()
    def run_jobs(self) -> None:
        jobs, self.queue[:] = list(self.queue), []
        for sid, cid in jobs:
            self.container.captures.process(sid, cid)

    @precondition(lambda self: bool(self.queue))
    @rule()
    def worker_killed(self) -> None:
        self.queue.clear()  # the jobs it held are lost; only the sweep can bring them back

    # Mostly the seconds between two clicks; now and then a coffee break or a day.
    @rule(seconds=st.sampled_from([5, 5, 30, 60, 60, 200, 700, 3700, 90_000]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def sweep(self) -> None:
        self.container.captures.sweep()

    # -- what must hold -------------------------------------------------------------------
    def _status(self) -> str:
        return self.container.sessions.get(self.actor.tenant_id, self.sid).status

    @invariant()
    def decided_sessions_have_a_decision(self) -> None:
        if not self.sid:
            return
        view = self.container.sessions.get(self.actor.tenant_id, self.sid)
        decision = self.container.sessions.decision(self.actor.tenant_id, self.sid)
        assert decision.decided == (view.status in {s.value for s in DECIDED}), view
        if view.status == Status.PROCESSING.value:
            # Something owes the session a result: a job, or a step still being read.
            assert any(s.state == "processing" for s in view.steps) or self.queue, view
            assert not any(s.state in ("pending", "retry") for s in view.steps), view

    def teardown(self) -> None:
        if not self.sid:
            return
        event(f"before the final sweeps: {self._status()}")
        # Let every owed thing happen, with the worker alive and two sweeps an hour apart
        # after the session's time and the job timeout have run out.
        for _ in range(2):
            self.run_jobs() if self.queue else None
            self.clock.advance(int(JOB_TIMEOUT.total_seconds()) + 90_000)
            self.container.captures.sweep()
        self.run_jobs() if self.queue else None
        self.container.captures.sweep()
        status = self._status()
        event(f"ended {status}")
        assert status in SETTLED, (status, self.container.sessions.get(
            self.actor.tenant_id, self.sid))


@pytest.mark.hold_tasks("process_capture")
def test_every_session_ends(colour_container: Container, clock: FrozenClock,
                            task_queue: TaskLog) -> None:
    container = colour_container
    queue = task_queue.of("process_capture")
    SessionMachine.container, SessionMachine.clock = container, clock
    SessionMachine.queue = queue
    run_state_machine_as_test(SessionMachine, settings=settings(
        max_examples=60, stateful_step_count=25, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow]))
