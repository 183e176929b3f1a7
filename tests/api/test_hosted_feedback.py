"""What the person is told on a retake (reason and advice, never a score), and which pages
load the capture script with its guidance texts in the person's language."""

from __future__ import annotations

from sqlalchemy import select

from idproof.verification.models import SessionStep
from tests.api.test_hosted import auth, consent, opened  # noqa: F401


def _set(container, sid: str, step: str, state: str, *reasons: str, attempts: int = 1) -> None:
    with container.db.session() as s:
        row = s.scalar(select(SessionStep).where(SessionStep.session_id == sid,
                                                 SessionStep.step == step))
        assert row is not None
        row.state, row.reasons, row.attempts = state, list(reasons), attempts


def test_a_liveness_retry_says_why_and_what_to_do_without_scores(api, auth,  # noqa: F811
                                                                 container) -> None:
    sid, _path, r = opened(api, auth, workflow="kyc_standard")
    consent(api, r.text)
    _set(container, sid, "document", "passed")
    _set(container, sid, "selfie", "passed")
    _set(container, sid, "liveness", "retry", "liveness_failed")
    page = api.get("/verify/s").text
    assert 'data-page="liveness"' in page
    assert 'id="retry"' in page and "(attempt 2 of 3)" in page
    assert ('<span id="retry-advice">Do each movement when asked, in good light, facing the '
            "camera.</span>") in page
    assert "score" not in page.lower() and "measure" not in page.lower()
    assert 'id="liveness-progress"' in page and 'id="liveness-steps"' in page


def test_capture_pages_load_the_guidance_in_the_persons_language(api, auth,  # noqa: F811
                                                                 container) -> None:
    _sid, _path, r = opened(api, auth, workflow="document_selfie", locale="fr")
    assert "/verify/assets/capture.js" not in r.text  # the consent page needs no camera
    consent(api, r.text)
    page = api.get("/verify/s").text
    assert '<script src="/verify/assets/capture.js" defer></script>' in page
    assert 'data-q-blurry="Ne bougez pas : l&#39;image est floue."' in page
    assert 'data-use="Utiliser cette photo"' in page
    script = api.get("/verify/assets/capture.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "function analyse" in script.text
    assert api.get("/verify/assets/other.js").status_code == 404
