"""The fraud signals on the console's case page: reviewers see each signal with its
evidence, analysts which ones fired only; never the IP address or device attributes."""

from __future__ import annotations

import pytest

from idproof.signals.console_view import view_of
from idproof.signals.ipintel import IpFacts
from idproof.signals.rules import Limits, Observed, evaluate
from tests.api.test_console_review import (  # noqa: F401 (fixtures)
    api,
    app,
    auth,
    jobs,
    make_client,
    operator,
)
from tests.api.test_signals_workflow import DEVICE, _run, _workflow

pytestmark = pytest.mark.hold_tasks("process_capture")


def test_view_of_a_report_by_role() -> None:
    report = evaluate(Observed(IpFacts(country="DE", asn=64501, tor=True),
                               automation=("navigator.webdriver",),
                               face_duplicate_of=("ses_other",), face_best_distance=0.31,
                               device_seen=True), Limits())
    full = view_of(report, full=True)
    rows = {r.code: r for r in full.rows}
    assert rows["ip_tor"].fired and rows["ip_tor"].evidence == "ip country: DE; ip asn: 64501"
    assert rows["automation_suspected"].evidence == "automation hints: navigator.webdriver"
    assert rows["face_duplicate"].evidence == ("face duplicate sessions: ses_other; "
                                               "face distance: 0.310")
    assert not rows["ip_vpn"].fired and full.duplicates == ("ses_other",)
    assert full.ip_seen and full.device_seen
    short = view_of(report, full=False)
    assert [r.evidence for r in short.rows] == [""] * len(short.rows)
    assert short.duplicates == () and short.reasons == full.reasons
    assert view_of(None, full=True).computed is False


def test_the_case_page_shows_the_signals_by_role(api, auth, colour_container, jobs,  # noqa: F811
                                                 app, clock) -> None:  # noqa: F811
    c = colour_container
    h = auth
    issued = c.clients.create("demo", "workflows.manage")
    from tests.helpers import ApiClient, bearer, get_token
    wm = bearer(get_token(api, ApiClient(issued.client.id, issued.secret, "demo")))
    assert api.post("/v1/workflows", json={"id": "signals", "definition": _workflow()},
                    headers=wm).status_code == 201
    assert api.post("/v1/workflows/signals/versions/1/publish", headers=wm).status_code == 200
    sid = _run(api, c, jobs, h, "signals", 9, ip="203.0.113.9",
               device={**DEVICE, "webdriver": True})
    assert api.post(f"/v1/sessions/{sid}/submit", headers=h).json()["status"] == "in_review"
    reviewer, _ = operator(app, c, clock, "rev-sig@example.com", "reviewer", ["demo"])
    page = reviewer.get(f"/console/review/{sid}")
    assert page.status_code == 200 and "Fraud signals" in page.text
    assert "<code>automation_suspected</code>" in page.text
    assert "automation hints: navigator.webdriver" in page.text
    assert "203.0.113.9" not in page.text and "Win32" not in page.text
    assert DEVICE["canvas_hash"] not in page.text
    analyst, _ = operator(app, c, clock, "an-sig@example.com", "analyst", ["demo"])
    page = analyst.get(f"/console/review/{sid}")
    assert page.status_code == 200 and "<code>automation_suspected</code>" in page.text
    assert "navigator.webdriver" not in page.text and "Evidence" not in page.text
