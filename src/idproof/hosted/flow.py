"""Which hosted page comes next, from the session's status and step states (pure).

The server decides, never the browser: every GET of the flow asks `next_page()`, so a reload,
a back button or a second tab always lands on the page that fits the session's real state.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

DONE_STATUSES = frozenset({"approved", "declined", "in_review"})
ENDED_STATUSES = frozenset({"expired", "abandoned", "cancelled"})
CAPTURE_PAGES = ("document", "selfie", "liveness")
# The steps with a form and no camera (e-mail and phone codes, the questionnaire).
FORM_PAGES = ("email", "phone", "questionnaire")
PERSON_PAGES = CAPTURE_PAGES + FORM_PAGES
# Given to the steps an early stop leaves untried: a record for the integrator, never shown
# to the person as something they did wrong.
NOT_ATTEMPTED = "not_attempted"


@dataclass(frozen=True, slots=True)
class StepInfo:
    step: str
    state: str  # pending, processing, passed, failed, retry
    reasons: tuple[str, ...] = ()
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Page:
    """`name` is one of consent, document, selfie, liveness, email, phone, questionnaire,
    waiting, submit, done, ended."""

    name: str
    retry_reason: str | None = None
    attempt: int = 0
    index: int = 0  # 1-based position among the steps with a page, for "step n of m"
    total: int = 0


def next_page(status: str, steps: Sequence[StepInfo], workflow_steps: Sequence[str],
              *, consented: bool) -> Page:
    if status in DONE_STATUSES:
        return Page("done")
    if status in ENDED_STATUSES:
        return Page("ended")
    if status == "processing":
        return Page("waiting")
    if not consented:
        return Page("consent")
    by_step = {s.step: s for s in steps}
    processing = False
    total = len(workflow_steps)
    for index, name in enumerate(workflow_steps, start=1):
        info = by_step.get(name) or StepInfo(name, "pending")
        if info.state == "pending":
            return Page(name, index=index, total=total)
        if info.state == "retry":
            reason = info.reasons[0] if info.reasons else None
            return Page(name, retry_reason=reason, attempt=info.attempts, index=index,
                        total=total)
        # A step still being read does not hold the person up: the next capture can go on
        # while the worker reads the document.
        processing = processing or info.state == "processing"
    return Page("waiting") if processing else Page("submit")


def early_stop(steps: Sequence[StepInfo], decline: Collection[str],
               review: Collection[str] = ()) -> tuple[str, ...]:
    """The reasons that already decide the session: those of steps that failed for good
    (not a retake) and that the workflow's rules decline or send to review (such as
    `duplicate_document`: the session can no longer be approved on its own, so more
    captures cannot change what the person is told). Non-empty: stop the flow now."""
    deciding = {*decline, *review}
    found: list[str] = []
    for info in steps:
        if info.state == "failed":
            found.extend(r for r in info.reasons if r in deciding)
    return tuple(dict.fromkeys(found))


def shown_reasons(reasons: Sequence[str]) -> tuple[str, ...]:
    """Every reason the final screen lists (each once, in order), the bookkeeping ones left
    out."""
    return tuple(r for r in dict.fromkeys(reasons) if r != NOT_ATTEMPTED)


def final_outcome(status: str, reasons: Sequence[str]) -> tuple[str, str | None]:
    """What the final screen says: ("completed" | "review" | "failed", a reason code)."""
    if status == "approved":
        return "completed", None
    if status == "in_review":
        return "review", None
    shown = shown_reasons(reasons)
    return "failed", shown[0] if shown else None
