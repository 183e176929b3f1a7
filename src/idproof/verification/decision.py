"""The decision: step results and the workflow's rules in, status + booleans + reasons out.

Pure and deterministic; what the app gets is booleans and reason codes, never data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from idproof.verification.lifecycle import Status
from idproof.workflows.catalog import Workflow


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
    # Boolean facts the step established, e.g. {"document_valid": True, "age_over_18": True}.
    facts: Mapping[str, bool] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.state in {StepState.PASSED, StepState.FAILED}


@dataclass(frozen=True, slots=True)
class Decision:
    status: Status
    reasons: tuple[str, ...]
    checks: dict[str, bool | None]


def incomplete_steps(workflow: Workflow, results: Mapping[str, StepResult]) -> list[str]:
    """Steps that hold a submit back: nothing captured yet, or a retake asked for.

    A step still `processing` does not: its job owes a result, and the sweep makes sure it
    comes (re-queued when lost, failed with `processing_timeout` past the job timeout)."""
    return [s for s in workflow.steps if s not in results
            or results[s].state in (StepState.PENDING, StepState.RETRY)]


def decide(workflow: Workflow, results: Mapping[str, StepResult]) -> Decision:
    """Declined if any reason is a decline rule, in review if any is a review rule or
    unknown, approved only when every step passed with no reason at all."""
    reasons: list[str] = []
    for step in workflow.steps:
        result = results.get(step)
        if result is None or not result.complete:
            reasons.append(f"{step}_incomplete")
            continue
        reasons.extend(result.reasons)
    ordered = tuple(dict.fromkeys(reasons))
    facts: dict[str, bool] = {}
    for result in results.values():
        facts.update(result.facts)
    if any(r in workflow.rules.decline for r in ordered):
        status = Status.DECLINED
    elif ordered or any(results[s].state != StepState.PASSED for s in workflow.steps):
        status = Status.IN_REVIEW  # unknown or review reasons: a human looks
    else:
        status = Status.APPROVED
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
