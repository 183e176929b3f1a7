"""The decision: step results and the workflow's rules in, status + booleans + reasons out.

Pure and deterministic; what the app gets is booleans and reason codes, never data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from idproof.verification.document.accepted import NOT_ACCEPTED
from idproof.verification.lifecycle import Status
from idproof.workflows.catalog import Workflow
from idproof.workflows.flow import (
    STEP_TYPES,
    Outcome,
    compiled,
    decide_flow,
    pending_steps,
    walk,
)

# Reasons that decline a session whatever its workflow's rules say: the tenant does not
# accept the document, so neither more captures nor a reviewer could make it acceptable.
HARD_DECLINES = frozenset({NOT_ACCEPTED})


class StepState(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    PASSED = "passed"
    FAILED = "failed"
    RETRY = "retry"  # a retake may fix it (blurry image, no face found)


@dataclass(frozen=True, slots=True)
class StepResult:
    state: StepState
    reasons: tuple[str, ...] = ()
    # Facts the step established, e.g. {"document_valid": True, "age_over_18": True,
    # "issuing_country": "DEU", "age": 34, "face_score": 0.31}: what workflow rules read.
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.state in {StepState.PASSED, StepState.FAILED}


@dataclass(frozen=True, slots=True)
class Decision:
    status: Status
    reasons: tuple[str, ...]
    checks: dict[str, bool | None]


def hard_declines(results: Mapping[str, StepResult]) -> tuple[str, ...]:
    """The hard-decline reasons of steps that failed (each once, in step order)."""
    found = [r for res in results.values() if res.state == StepState.FAILED
             for r in res.reasons if r in HARD_DECLINES]
    return tuple(dict.fromkeys(found))


def incomplete_steps(workflow: Workflow, results: Mapping[str, StepResult]) -> list[str]:
    """Steps that hold a submit back: nothing captured yet, or a retake asked for; none
    once a step failed for a hard decline (nothing left could change the outcome).

    A step still `processing` does not: its job owes a result, and the sweep makes sure it
    comes (re-queued when lost, failed with `processing_timeout` past the job timeout)."""
    if hard_declines(results):
        return []
    if workflow.flow is not None:  # only the steps on the path the outcomes so far take
        return pending_steps(compiled(workflow.flow), outcomes(results))
    return [s for s in workflow.steps if s not in results
            or results[s].state in (StepState.PENDING, StepState.RETRY)]


def outcomes(results: Mapping[str, StepResult]) -> dict[str, Outcome]:
    return {k: Outcome(r.state.value, r.reasons, r.facts) for k, r in results.items()}


_STATUS = {"approve": Status.APPROVED, "decline": Status.DECLINED, "review": Status.IN_REVIEW}


def ready(workflow: Workflow, results: Mapping[str, StepResult],
          signals: Mapping[str, Any] | None = None) -> bool:
    """Every step the session needs has a final result: all of them for a built-in; those
    on the path taken for a graph (its transitions may read `signals`). A hard decline
    decides at once, once no step is still being read."""
    if hard_declines(results):
        return not any(r.state == StepState.PROCESSING for r in results.values())
    if workflow.flow is None:
        return all(r.complete for r in results.values()) and len(results) >= len(
            workflow.steps)
    path, waiting, _ = walk(compiled(workflow.flow), outcomes(results), signals)
    kinds = [workflow.flow.nodes[n].type for n in path]
    return waiting is None and all(k in results and results[k].complete for k in kinds
                                   if k in STEP_TYPES)


def decide(workflow: Workflow, results: Mapping[str, StepResult],
           signals: Mapping[str, Any] | None = None) -> Decision:
    """Declined if any reason is a decline rule, in review if any is a review rule or
    unknown, approved only when every step passed with no reason at all. A graph workflow
    is decided by its CEL rules (`workflows.flow.decide_flow`), which may read the fraud
    signals' values (`signals.*`). A hard decline (`HARD_DECLINES`) declines either way."""
    hard = hard_declines(results)
    if workflow.flow is not None:
        fd = decide_flow(compiled(workflow.flow), outcomes(results), signals)
        if hard:
            return _checks(workflow, results, Status.DECLINED,
                           tuple(dict.fromkeys((*hard, *fd.reasons))))
        return _checks(workflow, results, _STATUS[fd.outcome or "review"], fd.reasons)
    reasons: list[str] = []
    for step in workflow.steps:
        result = results.get(step)
        if result is None or not result.complete:
            reasons.append(f"{step}_incomplete")
            continue
        reasons.extend(result.reasons)
    ordered = tuple(dict.fromkeys(reasons))
    if hard or any(r in workflow.rules.decline for r in ordered):
        status = Status.DECLINED
    elif ordered or any(results[s].state != StepState.PASSED for s in workflow.steps):
        status = Status.IN_REVIEW  # unknown or review reasons: a human looks
    else:
        status = Status.APPROVED
    return _checks(workflow, results, status, ordered)


def _checks(workflow: Workflow, results: Mapping[str, StepResult], status: Status,
            ordered: tuple[str, ...]) -> Decision:
    facts: dict[str, Any] = {}
    for result in results.values():
        facts.update(result.facts)
    min_age = workflow.minimum_age
    checks: dict[str, bool | None] = {
        "is_verified": status == Status.APPROVED,
        "document_valid": facts.get("document_valid") if "document" in workflow.steps
        else None,
        f"age_over_{min_age}": facts.get(f"age_over_{min_age}"),
        "face_match": facts.get("face_match") if "selfie" in workflow.steps else None,
        "liveness_passed": facts.get("liveness_passed") if "liveness" in workflow.steps
        else None,
    }
    if min_age != 18:
        checks["age_over_18"] = facts.get("age_over_18")
    return Decision(status, ordered, checks)
