"""The hosted flow's page order (pure)."""

from __future__ import annotations

import pytest

from idproof.hosted.flow import StepInfo, final_outcome, next_page

KYC = ("document", "selfie", "liveness")


def steps(**states: str) -> list[StepInfo]:
    return [StepInfo(name, state, ("document_unreadable",) if state == "retry" else (), 1)
            for name, state in states.items()]


@pytest.mark.parametrize(("status", "expected"), [
    ("approved", "done"), ("declined", "done"), ("in_review", "done"),
    ("expired", "ended"), ("abandoned", "ended"), ("processing", "waiting"),
])
def test_status_wins(status, expected) -> None:
    assert next_page(status, [], KYC, consented=False).name == expected


def test_consent_first() -> None:
    assert next_page("not_started", steps(document="pending"), KYC,
                     consented=False).name == "consent"


def test_steps_in_workflow_order_with_progress() -> None:
    page = next_page("in_progress", steps(document="passed", selfie="pending",
                                          liveness="pending"), KYC, consented=True)
    assert (page.name, page.index, page.total) == ("selfie", 2, 3)


def test_processing_step_does_not_block_the_next_capture() -> None:
    page = next_page("in_progress", steps(document="processing", selfie="pending",
                                          liveness="pending"), KYC, consented=True)
    assert page.name == "selfie"


def test_retry_goes_back_with_the_reason() -> None:
    page = next_page("in_progress", steps(document="retry", selfie="passed",
                                          liveness="passed"), KYC, consented=True)
    assert page.name == "document" and page.retry_reason == "document_unreadable"
    assert page.attempt == 1


def test_wait_then_submit() -> None:
    assert next_page("in_progress", steps(document="processing", selfie="passed"),
                     ("document", "selfie"), consented=True).name == "waiting"
    assert next_page("in_progress", steps(document="failed", selfie="passed"),
                     ("document", "selfie"), consented=True).name == "submit"


def test_missing_step_rows_count_as_pending() -> None:
    assert next_page("in_progress", [], ("document",), consented=True).name == "document"


def test_final_outcome() -> None:
    assert final_outcome("approved", []) == ("completed", None)
    assert final_outcome("in_review", ["x"]) == ("review", None)
    assert final_outcome("declined", ["liveness_failed", "x"]) == ("failed", "liveness_failed")
    assert final_outcome("declined", []) == ("failed", None)


def test_early_stop_only_for_a_final_failure_with_a_deciding_reason() -> None:
    from idproof.hosted.flow import early_stop

    decline = {"document_expired", "face_mismatch"}
    assert early_stop([StepInfo("document", "failed", ("document_expired",))], decline) == (
        "document_expired",)
    assert early_stop([StepInfo("document", "failed", ("duplicate_document",))], decline) == ()
    # A review reason decides too: the session can no longer be approved on its own.
    assert early_stop([StepInfo("document", "failed", ("duplicate_document",))], decline,
                      {"duplicate_document"}) == ("duplicate_document",)
    assert early_stop([StepInfo("document", "retry", ("duplicate_document",))], decline,
                      {"duplicate_document"}) == ()
    # A reason the workflow names nowhere does not stop the flow.
    assert early_stop([StepInfo("document", "failed", ("odd",))], decline, {"x"}) == ()
    assert early_stop([StepInfo("document", "retry", ("document_expired",))], decline) == ()
    assert early_stop([StepInfo("document", "passed"),
                       StepInfo("selfie", "failed", ("face_mismatch", "x"))], decline) == (
        "face_mismatch",)


def test_shown_reasons_are_every_reason_once_without_bookkeeping() -> None:
    from idproof.hosted.flow import shown_reasons

    assert shown_reasons(["a", "not_attempted", "b", "a"]) == ("a", "b")
    assert final_outcome("declined", ["not_attempted", "underage"]) == ("failed", "underage")


def test_page_steps_follow_the_graph_path_and_skip_screening() -> None:
    from idproof.hosted.steps import page_steps
    from idproof.workflows.catalog import Workflow, get_workflow
    from idproof.workflows.flow import Outcome

    builtin = get_workflow("kyc_standard")
    assert builtin is not None
    assert page_steps(builtin, {}) == ["document", "selfie", "liveness"]
    wf = Workflow.model_validate({
        "id": "screen_first", "version": 1, "title": "T", "minimum_age": 18, "max_attempts": 3,
        "document": {"types": ["passport"], "countries": None, "back_required_for": []},
        "flow": {"start": "doc", "nodes": {
            "doc": {"type": "document", "next": [{"to": "scr"}]},
            "scr": {"type": "screening", "next": [
                {"to": "mail", "when": "screening.hit"}, {"to": "quiz"}]},
            "mail": {"type": "email", "next": [{"to": "end"}]},
            "quiz": {"type": "questionnaire", "next": [{"to": "end"}], "questions": [
                {"id": "ok", "type": "checkbox", "label": "OK"}]},
            "end": {"type": "end"}}}})
    # Until screening has a result, the path (and the pages) end there.
    assert page_steps(wf, {"document": Outcome("processing")}) == ["document"]
    done = {"document": Outcome("passed"), "screening": Outcome("passed", (), {"hit": True})}
    assert page_steps(wf, done) == ["document", "email"]
    clear = {**done, "screening": Outcome("passed", (), {"hit": False})}
    assert page_steps(wf, clear) == ["document", "questionnaire"]
