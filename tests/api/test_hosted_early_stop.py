"""Early stop: a step failed for a reason the workflow declines ends the hosted flow there."""

from __future__ import annotations

from sqlalchemy import select

from idproof.verification.models import SessionStep
from tests.api.test_hosted import auth, consent, opened  # noqa: F401 - the fixture too


def _fail(container, sid: str, step: str, *reasons: str, state: str = "failed") -> None:
    """What the document job records for a document that fails its checks."""
    with container.db.session() as s:
        row = s.scalar(select(SessionStep).where(SessionStep.session_id == sid,
                                                 SessionStep.step == step))
        assert row is not None
        row.state, row.reasons, row.attempts = state, list(reasons), 1


def _steps(api, auth, sid):  # noqa: F811
    return {st["step"]: st for st in api.get(f"/v1/sessions/{sid}", headers=auth).json()["steps"]}


def test_a_declined_document_stops_the_flow_before_the_selfie(api, auth, container  # noqa: F811
                                                              ) -> None:
    sid, _path, r = opened(api, auth, workflow="kyc_standard")
    consent(api, r.text)
    _fail(container, sid, "document", "document_expired")
    page = api.get("/verify/s")
    assert page.status_code == 200
    assert 'data-page="done"' in page.text and "We could not verify you" in page.text
    assert "The document has expired." in page.text
    assert "Use a document that is still valid." in page.text
    assert "not_attempted" not in page.text and "selfie" not in page.text.lower()
    view = api.get(f"/v1/sessions/{sid}", headers=auth).json()
    assert view["status"] == "declined"
    steps = _steps(api, auth, sid)
    assert steps["selfie"]["state"] == "failed" and steps["selfie"]["reasons"] == [
        "not_attempted"]
    assert steps["liveness"]["reasons"] == ["not_attempted"]
    decision = api.get(f"/v1/sessions/{sid}/decision", headers=auth).json()
    assert decision["reasons"][0] == "document_expired"
    (event,) = container.audit.list(action="hosted.stopped_early")
    assert event.details == {"reasons": ["document_expired"],
                             "not_attempted": ["selfie", "liveness"]}


def test_a_duplicate_document_stops_the_flow_and_goes_to_review(api, auth, container  # noqa: F811
                                                                ) -> None:
    sid, _path, r = opened(api, auth, workflow="kyc_standard")
    consent(api, r.text)
    _fail(container, sid, "document", "duplicate_document")  # review in kyc_standard
    page = api.get("/verify/s")
    assert 'data-page="done"' in page.text, page.text
    assert "selfie" not in page.text.lower()
    assert api.get(f"/v1/sessions/{sid}", headers=auth).json()["status"] == "in_review"
    steps = _steps(api, auth, sid)
    assert steps["selfie"]["reasons"] == ["not_attempted"]
    assert steps["liveness"]["reasons"] == ["not_attempted"]
    (event,) = container.audit.list(action="hosted.stopped_early")
    assert event.details == {"reasons": ["duplicate_document"],
                             "not_attempted": ["selfie", "liveness"]}


def test_a_retake_or_a_passed_step_does_not_stop_the_flow(api, auth, container  # noqa: F811
                                                         ) -> None:
    sid, _path, r = opened(api, auth, workflow="document_selfie")
    consent(api, r.text)
    _fail(container, sid, "document", state="passed")
    assert 'data-page="selfie"' in api.get("/verify/s").text
    sid2, _path, r = opened(api, auth, workflow="kyc_standard", reference="u-2")
    consent(api, r.text)
    _fail(container, sid2, "document", "document_unreadable", state="retry")
    assert 'data-page="document"' in api.get("/verify/s").text
    assert container.audit.list(action="hosted.stopped_early") == []


def test_the_final_screen_lists_every_reason_with_what_to_do(api, auth, container  # noqa: F811
                                                             ) -> None:
    sid, _path, r = opened(api, auth, workflow="document_only", locale="fr")
    consent(api, r.text)
    _fail(container, sid, "document", "document_expired", "underage")
    page = api.get("/verify/s").text
    assert "Le document a expiré." in page and "Utilisez un document encore valide." in page
    assert "L'âge minimum n'est pas atteint." in page or "L&#39;âge minimum" in page
    assert page.count("<li>") == 2


def test_a_selfie_sent_after_an_early_stop_shows_the_decision_not_an_upload_error(
        api, auth, container) -> None:  # noqa: F811
    # The person took the selfie while the document job found a duplicate and another tab
    # ended the flow: the late selfie must not read "the image is damaged".
    from tests.api.test_hosted import csrf_of, jpeg

    sid, _path, r = opened(api, auth, workflow="kyc_standard")
    consent(api, r.text)
    csrf = csrf_of(api.get("/verify/s").text)
    _fail(container, sid, "document", "duplicate_document")
    assert 'data-page="done"' in api.get("/verify/s").text  # the other tab: stopped early
    late = api.post("/verify/s/selfie", data={"csrf_token": csrf},
                    files={"file": ("selfie.jpg", jpeg(), "image/jpeg")},
                    follow_redirects=False)
    assert late.status_code == 303 and late.headers["location"] == "/verify/s"
    page = api.get("/verify/s").text
    assert 'data-page="done"' in page and "damaged" not in page
    assert api.get(f"/v1/sessions/{sid}", headers=auth).json()["status"] == "in_review"
