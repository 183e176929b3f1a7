"""Screening hits on the console's case page: the workflow step's hits become open cases, a
reviewer marks each one a true match or a false positive with a note (audited, first verdict
wins), and an analyst sees no hit."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select

from idproof.screening.models import ScreeningHit
from tests.api.test_console_review import (  # noqa: F401 (fixtures)
    api,
    app,
    auth,
    jobs,
    make_client,
    operator,
)
from tests.api.test_workflow_screening import LISTED, OTHER, _client, _workflow
from tests.colour_engines import capture
from tests.console_helpers import csrf
from tests.helpers import bearer, get_token

pytestmark = pytest.mark.hold_tasks("process_capture")


def _screened_in_review(api, c, jobs) -> str:  # type: ignore[no-untyped-def]  # noqa: F811
    c.screening.import_file("opensanctions", io.BytesIO(
        "\n".join(json.dumps(e) for e in (LISTED, OTHER)).encode()), actor="test")
    h = bearer(get_token(api, _client(c)))
    assert api.post("/v1/workflows", json={"id": "screened", "definition": _workflow()},
                    headers=h).status_code == 201
    assert api.post("/v1/workflows/screened/versions/1/publish", headers=h).status_code == 200
    sid = api.post("/v1/sessions", json={"reference": "u1", "workflow": "screened"},
                   headers=h).json()["id"]
    assert api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
                    files={"file": ("d.jpg", capture("good", 1), "image/jpeg")},
                    headers=h).status_code == 202
    while jobs:
        c.captures.process(*jobs.pop(0))
    assert api.post(f"/v1/sessions/{sid}/submit", headers=h).json()["status"] == "in_review"
    return str(sid)


def test_a_reviewer_marks_the_steps_hit_on_the_case_page(api, colour_container, jobs,  # noqa: F811
                                                         app, clock) -> None:  # noqa: F811
    c = colour_container
    sid = _screened_in_review(api, c, jobs)
    with c.db.read() as s:
        hits = s.scalars(select(ScreeningHit).where(ScreeningHit.session_id == sid)).all()
    assert [(h.entry_id, h.origin, h.status) for h in hits] == [("NK-test-1", "step", "open")]
    found = c.audit.list(action="screening.hit_found")
    assert found[-1].details["origin"] == "step" and found[-1].target_id == sid
    reviewer, _ = operator(app, c, clock, "rev-scr@example.com", "reviewer", ["demo"])
    page = reviewer.get(f"/console/review/{sid}")
    assert page.status_code == 200 and "Screening hits" in page.text
    assert "Alex Tester" in page.text and "NK-test-1" in page.text
    assert f'action="/console/screening/{hits[0].id}/review"' in page.text
    # A verdict without a note changes nothing; with one it is recorded and audited.
    r = reviewer.post(f"/console/screening/{hits[0].id}/review",
                      data={"csrf_token": csrf(page.text), "verdict": "dismissed", "note": ""})
    assert r.status_code == 422
    r = reviewer.post(f"/console/screening/{hits[0].id}/review",
                      data={"csrf_token": csrf(page.text), "verdict": "dismissed",
                            "note": "<b>born 1991</b>, a namesake"})
    assert r.status_code == 200 and "false positive" in r.text
    assert "<b>born" not in r.text  # the note is escaped, never markup
    page = reviewer.get(f"/console/review/{sid}")
    assert "False positive" in page.text and 'name="verdict"' not in page.text
    reviewed = c.audit.list(action="screening.hit_reviewed")
    assert reviewed[-1].details["hit"] == hits[0].id
    assert reviewed[-1].details["verdict"] == "dismissed" and reviewed[-1].actor_type == "operator"
    # A second verdict on the same hit: the first one stands.
    r = reviewer.post(f"/console/screening/{hits[0].id}/review",
                      data={"csrf_token": csrf(page.text), "verdict": "confirmed",
                            "note": "second opinion"})
    assert r.status_code == 409
    # An analyst sees the case, not the hits.
    analyst, _ = operator(app, c, clock, "an-scr@example.com", "analyst", ["demo"])
    page = analyst.get(f"/console/review/{sid}")
    assert page.status_code == 200 and "Screening hits" not in page.text
    assert "Alex Tester" not in page.text
