"""The decision rules, session lifecycle and the built-in workflow catalog."""

from __future__ import annotations

import pytest

from idproof.core.errors import Conflict
from idproof.verification.decision import StepResult, StepState, decide, incomplete_steps
from idproof.verification.lifecycle import Status, can_transition, lapsed, transition
from idproof.workflows.catalog import Workflow, builtin_workflows, get_workflow

P = StepState.PASSED
OK_DOC = StepResult(P, (), {"document_valid": True, "age_over_18": True})


def test_catalog_ships_the_four_workflows() -> None:
    wfs = builtin_workflows()
    assert set(wfs) >= {"kyc_standard", "document_selfie", "document_only", "age_check"}
    assert wfs["kyc_standard"].steps == ("document", "selfie", "liveness")
    assert wfs["document_only"].steps == ("document",)
    assert get_workflow("kyc_standard").ref == "kyc_standard@1"  # type: ignore[union-attr]
    assert get_workflow("nope") is None


def test_workflow_validation() -> None:
    base = get_workflow("document_only").model_dump()  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        Workflow.model_validate({**base, "unknown": 1})
    with pytest.raises(ValueError):
        Workflow.model_validate({**base, "rules": {"decline": ["x"], "review": ["x"]}})


def test_approved_only_when_all_pass() -> None:
    wf = get_workflow("kyc_standard")
    assert wf is not None
    results = {"document": OK_DOC, "selfie": StepResult(P, (), {"face_match": True}),
               "liveness": StepResult(P, (), {"liveness_passed": True})}
    d = decide(wf, results)
    assert d.status == Status.APPROVED and d.reasons == ()
    assert d.checks == {"is_verified": True, "document_valid": True, "age_over_18": True,
                        "face_match": True, "liveness_passed": True}


def test_decline_beats_review() -> None:
    wf = get_workflow("document_only")
    assert wf is not None
    bad = StepResult(StepState.FAILED, ("duplicate_document", "document_expired"),
                     {"document_valid": False})
    d = decide(wf, {"document": bad})
    assert d.status == Status.DECLINED
    assert d.reasons == ("duplicate_document", "document_expired")
    assert d.checks["is_verified"] is False and d.checks["face_match"] is None


def test_review_and_unknown_reasons() -> None:
    wf = get_workflow("document_only")
    assert wf is not None
    assert decide(wf, {"document": StepResult(StepState.FAILED, ("duplicate_document",))}
                  ).status == Status.IN_REVIEW
    assert decide(wf, {"document": StepResult(StepState.FAILED, ("something_new",))}
                  ).status == Status.IN_REVIEW
    assert decide(wf, {}).reasons == ("document_incomplete",)


def test_incomplete_steps() -> None:
    wf = get_workflow("kyc_standard")
    assert wf is not None
    assert incomplete_steps(wf, {"document": OK_DOC}) == ["selfie", "liveness"]
    retake = StepResult(StepState.RETRY, ("no_face",))
    working = StepResult(StepState.PROCESSING)
    assert incomplete_steps(wf, {"document": working, "selfie": retake,
                                 "liveness": StepResult(StepState.FAILED)}) == ["selfie"]
    assert incomplete_steps(wf, {"document": working, "selfie": OK_DOC,
                                 "liveness": StepResult(StepState.FAILED)}) == []


def test_lifecycle() -> None:
    assert can_transition(Status.NOT_STARTED, Status.IN_PROGRESS)
    assert transition(Status.PROCESSING, Status.APPROVED) == Status.APPROVED
    with pytest.raises(Conflict) as exc:
        transition(Status.APPROVED, Status.PROCESSING)
    assert exc.value.code == "illegal_transition"
    for final in (Status.APPROVED, Status.DECLINED, Status.EXPIRED, Status.ABANDONED):
        assert not any(can_transition(final, s) for s in Status)


def test_lapsed_sessions() -> None:
    assert lapsed(Status.NOT_STARTED) is Status.EXPIRED
    assert lapsed(Status.IN_PROGRESS) is Status.ABANDONED
    for st in (Status.PROCESSING, Status.APPROVED, Status.EXPIRED, Status.IN_REVIEW):
        with pytest.raises(Conflict):
            lapsed(st)


def test_document_checks() -> None:
    from datetime import date

    from idproof.verification.document.checks import ExtractedDocument, check_document

    wf = get_workflow("document_only")
    assert wf is not None
    today = date(2026, 11, 25)
    doc = ExtractedDocument("passport", "UTO", "L898902C3", "ERIKSSON", "ANNA MARIA", "UTO",
                            date(1974, 8, 12), "F", date(2030, 4, 15), True)
    ok = check_document(doc, wf, today)
    assert ok.state == StepState.PASSED and ok.facts["document_valid"] is True
    assert ok.facts["age_over_18"] is True
    assert "ERIKSSON" not in repr(doc)
    from dataclasses import replace

    young = replace(doc, birth_date=date(2010, 1, 1))
    assert check_document(young, wf, today).reasons == ("underage",)
    old = replace(doc, expiry_date=date(2026, 11, 24))
    r = check_document(old, wf, today)
    assert r.reasons == ("document_expired",) and r.facts["document_valid"] is False
    visa = replace(doc, document_type="visa")
    assert "document_type_not_allowed" in check_document(visa, wf, today).reasons
    assert check_document(doc, wf, today, duplicate=True).reasons == ("duplicate_document",)
    restricted = wf.model_copy(update={"document": wf.document.model_copy(
        update={"countries": ("D",)})})
    assert "country_not_allowed" in check_document(doc, restricted, today).reasons
