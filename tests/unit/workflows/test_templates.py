"""The four built-ins as graph templates decide exactly as the reason-list `decide()`."""

from __future__ import annotations

import itertools

import pytest

from idproof.verification.decision import StepResult, StepState, decide, incomplete_steps
from idproof.workflows.catalog import builtin_workflows

REASONS: list[tuple[str, ...]] = [
    (), ("document_expired",), ("duplicate_document",), ("something_new",),
    ("duplicate_document", "document_expired"), ("face_mismatch",), ("no_face",),
    ("liveness_failed",), ("processing_timeout",), ("country_not_allowed",),
]
STATES = [StepState.PASSED, StepState.FAILED, StepState.PENDING, StepState.RETRY,
          StepState.PROCESSING, None]


def results_table(steps: tuple[str, ...]) -> list[dict[str, StepResult]]:
    out: list[dict[str, StepResult]] = []
    for combo in itertools.product(range(len(STATES)), range(len(REASONS)),
                                   repeat=len(steps)):
        results: dict[str, StepResult] = {}
        for i, step in enumerate(steps):
            state, reasons = STATES[combo[2 * i]], REASONS[combo[2 * i + 1]]
            if state is not None:
                results[step] = StepResult(state, reasons, {"document_valid": True,
                                                            "age_over_18": True})
        out.append(results)
    return out


@pytest.mark.parametrize("name", sorted(builtin_workflows()))
def test_template_decides_as_today(name: str) -> None:
    wf = builtin_workflows()[name]
    template = wf.as_template()
    assert template.flow is not None and template.steps == wf.steps
    table = results_table(wf.steps)
    if len(table) > 4000:
        table = table[::7]  # kyc_standard: 216000 combinations, a seventh is plenty
    for results in table:
        assert decide(template, results) == decide(wf, results), results
        assert incomplete_steps(template, results) == incomplete_steps(wf, results)
