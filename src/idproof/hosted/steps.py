"""The hosted pages of the steps without a camera: e-mail and phone codes, the questionnaire,
and the screening step that runs by itself. They go through the same services as the API
(`workflows.steps`), as the end user."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from idproof.core.errors import Conflict
from idproof.db.engine import Database
from idproof.hosted.flow import PERSON_PAGES
from idproof.verification.service import Actor, SessionService
from idproof.workflows.catalog import Workflow
from idproof.workflows.flow import Outcome, compiled, walk
from idproof.workflows.steps.questionnaire import Question
from idproof.workflows.steps.screening_step import ScreeningStep
from idproof.workflows.steps.service import ContactSteps

FORM_STEPS = frozenset({"email", "phone", "questionnaire"})


def page_steps(workflow: Workflow, outcomes: Mapping[str, Outcome]) -> list[str]:
    """The steps with a page, in the order the person meets them: a built-in's steps, or
    those on the path a graph takes with the outcomes so far (a step whose transitions wait
    for its result ends the known path). Screening has no page: it runs by itself."""
    if workflow.flow is None:
        return [s for s in workflow.steps if s in PERSON_PAGES]
    path, _, _ = walk(compiled(workflow.flow), outcomes)
    kinds = [workflow.flow.nodes[n].type for n in path]
    return [k for k in kinds if k in PERSON_PAGES]


@dataclass(frozen=True, slots=True)
class CodeStatus:
    """An e-mail or phone page: a code was sent (the person types it), and the seconds
    before another may be asked for."""

    sent: bool
    resend_after: int


class HostedSteps:
    """The form steps of one hosted flow, for a browser that gave consent."""

    def __init__(self, db: Database, sessions: SessionService,
                 contacts: ContactSteps | None, screening: ScreeningStep | None) -> None:
        self._db, self._sessions = db, sessions
        self._contacts, self._screening = contacts, screening

    def _svc(self) -> ContactSteps:
        if self._contacts is None:
            raise Conflict("this step is not available on this server",
                           code="step_unavailable")
        return self._contacts

    def send(self, actor: Actor, session_id: str, step: str, value: str) -> None:
        self._svc().send(actor, session_id, step, value)

    def resend(self, actor: Actor, session_id: str, step: str) -> None:
        self._svc().resend(actor, session_id, step)

    def confirm(self, actor: Actor, session_id: str, step: str, code: str) -> None:
        self._svc().confirm(actor, session_id, step, code)

    def answer(self, actor: Actor, session_id: str, answers: Mapping[str, Any]) -> None:
        self._svc().answer(actor, session_id, answers)

    def status(self, session_id: str, step: str) -> CodeStatus:
        if self._contacts is None or step not in {"email", "phone"}:
            return CodeStatus(False, 0)
        sent, wait = self._contacts.code_status(session_id, step)
        return CodeStatus(sent, wait)

    def questions(self, tenant_id: str, session_id: str) -> Sequence[Question]:
        if self._contacts is None:
            return ()
        return tuple(self._contacts.questions(tenant_id, session_id))

    def screen_if_due(self, tenant_id: str, session_id: str) -> bool:
        """Run the screening step now if the session reached it with its document read
        (for paths where it follows a step that publishes no completion, such as a selfie);
        True when it ran, and then the session is decided if it can be."""
        if self._screening is None:
            return False
        with self._db.session() as s:
            row = self._sessions.load_for_update(s, tenant_id, session_id)
            ran = self._screening.run_due(s, tenant_id, session_id)
            if ran:
                self._sessions.decide_if_complete(s, row, self._sessions.workflow_of(row))
        return ran


def form_answers(questions: Sequence[Question], form: Mapping[str, str]) -> dict[str, Any]:
    """The answers of the questionnaire form (`q_<id>` fields) as the step takes them: a
    checkbox is true when ticked and false otherwise, an empty optional field no answer."""
    out: dict[str, Any] = {}
    for q in questions:
        raw = form.get(f"q_{q.id}")
        if q.type == "checkbox":
            out[q.id] = raw == "yes"
        elif raw is not None and (raw.strip() or q.required):
            out[q.id] = raw
    return out
