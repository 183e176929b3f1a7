"""The values the steps record (document country and age, face score) reach the CEL rules."""

from __future__ import annotations

from datetime import date

import numpy as np

from idproof.verification.biometrics.analysis import StillAnalysis
from idproof.verification.biometrics.service import selfie_outcome
from idproof.verification.decision import (
    StepResult,
    StepState,
    decide,
    incomplete_steps,
    outcomes,
    ready,
)
from idproof.verification.document.checks import ExtractedDocument, check_document
from idproof.workflows.catalog import Workflow, get_workflow
from idproof.workflows.flow import Flow, compiled, decide_flow
from tests.unit.workflows.test_workflow_graph import two_branch

TODAY = date(2026, 11, 25)


def _doc(country: str, born: date) -> ExtractedDocument:
    return ExtractedDocument("passport", country, "L898902C3", "ERIKSSON", "ANNA", country,
                             born, "F", date(2030, 4, 15), True)


def _selfie_at(dist: float) -> StepResult:
    portrait = StillAnalysis(np.zeros(4), ())
    selfie = StillAnalysis(np.array([dist, 0.0, 0.0, 0.0]), ())
    m = selfie_outcome(selfie, portrait, 0.55, retry_allowed=False)
    return StepResult(m.state, m.reasons, m.facts())


def _workflow() -> Workflow:
    base = get_workflow("kyc_standard")
    assert base is not None
    return base.model_copy(update={"flow": Flow.model_validate(two_branch())})


def test_document_step_records_type_country_nationality_and_age_not_identity() -> None:
    wf = get_workflow("document_only")
    assert wf is not None
    r = check_document(_doc("DEU", date(1990, 1, 2)), wf, TODAY)
    assert {k: r.facts[k] for k in ("document_type", "issuing_country", "nationality", "age")
            } == {"document_type": "passport", "issuing_country": "DEU",
                  "nationality": "DEU", "age": 36}
    text = repr(r.facts)
    assert "ERIKSSON" not in text and "L898902C3" not in text and "1990" not in text


def test_selfie_step_records_the_face_distance() -> None:
    r = _selfie_at(0.5)
    assert r.state == StepState.PASSED and r.facts == {"face_match": True, "face_score": 0.5}
    far = _selfie_at(0.9)
    assert far.state == StepState.FAILED and far.facts["face_score"] == 0.9


def test_recorded_values_choose_the_branch_and_the_decision() -> None:
    wf = _workflow()
    assert wf.flow is not None
    cf = compiled(wf.flow)
    eu = {"document": check_document(_doc("DEU", date(1990, 1, 2)), wf, TODAY),
          "selfie": _selfie_at(0.2)}
    d = decide_flow(cf, outcomes(eu))
    assert d.path == ("doc", "face", "end") and d.outcome == "approve"
    assert decide(wf, eu).status.value == "approved"
    # Not from the EU: the graph asks for liveness before it can end.
    us = {"document": check_document(_doc("USA", date(1990, 1, 2)), wf, TODAY),
          "selfie": _selfie_at(0.2)}
    assert decide_flow(cf, outcomes(us)).path == ("doc", "face", "live", "end")
    assert incomplete_steps(wf, us) == ["liveness"] and not ready(wf, us)
    assert incomplete_steps(wf, eu) == [] and ready(wf, eu)
    # The face score between 0.45 and 0.55 sends to review with its reason.
    border = {**eu, "selfie": _selfie_at(0.5)}
    d = decide_flow(cf, outcomes(border))
    assert (d.outcome, d.fired[0]) == ("review", "borderline")
    assert "face_borderline" in d.reasons
