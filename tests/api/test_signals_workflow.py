"""Signals on every session, through the API: the document job computes them without any
POST, an IP and device posted before the job stay in the evidence, and a tenant workflow's
rule on a signal (`signals.ip_tor`) changes the decision."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from idproof.bootstrap import Container
from idproof.web.app import create_app
from tests.colour_engines import capture
from tests.helpers import ApiClient, bearer, get_token
from tests.task_log import TaskLog

DATA = Path(__file__).parents[1] / "data" / "signals"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.6367.91 Safari/537.36")
DEVICE = {"user_agent": CHROME, "platform": "Win32", "languages": ["fr-FR"],
          "timezone": "Europe/Paris", "screen_width": 1920, "screen_height": 1080,
          "color_depth": 24, "hardware_concurrency": 8, "canvas_hash": "0a1b2c3d4e5f6789"}
pytestmark = [pytest.mark.hold_tasks("process_capture"), pytest.mark.postgres]


@pytest.fixture
def jobs(task_queue: TaskLog) -> list[tuple[str, ...]]:
    return task_queue.of("process_capture")


@pytest.fixture
def api(colour_container: Container, jobs: list[tuple[str, str]]) -> Iterator[TestClient]:
    with TestClient(create_app(colour_container), client=("127.0.0.1", 50000),
                    raise_server_exceptions=True) as tc:
        yield tc


@pytest.fixture
def h(api: TestClient, colour_container: Container) -> dict[str, str]:
    issued = colour_container.clients.create(
        "demo", "identity.verify identity.read_status workflows.manage")
    return bearer(get_token(api, ApiClient(issued.client.id, issued.secret, "demo")))


def _workflow() -> dict[str, Any]:
    return {"title": "Signals", "minimum_age": 18, "max_attempts": 3,
            "document": {"types": ["passport"], "countries": None, "back_required_for": []},
            "flow": {"start": "doc", "nodes": {
                "doc": {"type": "document", "next": [{"to": "end"}]},
                "end": {"type": "end"}},
                "decision": [
                    {"id": "bad_document", "action": "decline", "when": "!document.passed"},
                    {"id": "tor", "action": "decline",
                     "when": "signals.ip_tor && signals.ip_country == 'DEU'",
                     "reasons": ["tor_exit"]},
                    {"id": "bot", "action": "review", "when": "signals.automation_suspected",
                     "reasons": ["bot_review"]},
                    {"id": "ok", "action": "approve", "when": "true"}]}}


def _run(api: TestClient, c: Container, jobs: list[tuple[str, str]], h: dict[str, str],
         workflow: str, nonce: int, **posted: Any) -> str:
    r = api.post("/v1/sessions", json={"reference": f"u{nonce}", "workflow": workflow},
                 headers=h)
    assert r.status_code == 201, r.text
    sid = str(r.json()["id"])
    if posted:  # what the hosted page posts (or the integrator's backend through the API)
        assert api.post(f"/v1/sessions/{sid}/signals", json=posted,
                        headers=h).status_code == 200
    r = api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
                 files={"file": ("d.jpg", capture("good", nonce), "image/jpeg")}, headers=h)
    assert r.status_code == 202, r.text
    while jobs:
        c.captures.process(*jobs.pop(0))
    return sid


def test_the_document_job_computes_signals_without_a_post(
        api: TestClient, colour_container: Container, jobs: list[tuple[str, str]],
        h: dict[str, str]) -> None:
    sid = _run(api, colour_container, jobs, h, "document_only", 1)
    r = api.get(f"/v1/sessions/{sid}/signals", headers=h)
    assert r.status_code == 200, r.text
    out = r.json()["signals"]
    assert out["ip_seen"] is False and out["device_seen"] is False
    assert out["ip_country_mismatch"] is False and r.json()["reasons"] == []
    (ev,) = colour_container.audit.list(action="signals.assessed")
    assert ev.target_id == sid and ev.actor_type == "system"
    # The decision recomputes them in its transaction (a second assessment, same result).
    assert api.post(f"/v1/sessions/{sid}/submit", headers=h).json()["status"] == "approved"
    assert len(colour_container.audit.list(action="signals.assessed")) == 2


def test_a_rule_on_a_signal_changes_the_decision(
        api: TestClient, colour_container: Container, jobs: list[tuple[str, str]],
        h: dict[str, str]) -> None:
    for kind, name in (("geoip", "geoip.csv"), ("tor", "exit-addresses")):
        colour_container.signals.datasets.import_file(
            kind, io.BytesIO((DATA / name).read_bytes()), actor="test")
    assert api.post("/v1/workflows", json={"id": "signals", "definition": _workflow()},
                    headers=h).status_code == 201
    assert api.post("/v1/workflows/signals/versions/1/publish",
                    headers=h).status_code == 200
    # A Tor exit in Germany, posted before the document: the job's assessment keeps it.
    tor = _run(api, colour_container, jobs, h, "signals", 2, ip="198.51.100.77",
               device=DEVICE)
    out = api.get(f"/v1/sessions/{tor}/signals", headers=h).json()
    assert out["reasons"] == ["ip_tor", "ip_country_mismatch"]  # the document is French
    assert api.post(f"/v1/sessions/{tor}/submit", headers=h).status_code == 200
    d = api.get(f"/v1/sessions/{tor}/decision", headers=h).json()
    assert d["status"] == "declined", d
    assert d["reasons"][:1] == ["tor_exit"] and "ip_tor" in d["reasons"]
    # The same flow from a French address on another device: approved.
    fr = _run(api, colour_container, jobs, h, "signals", 3, ip="192.0.2.10",
              device={**DEVICE, "canvas_hash": "1111222233334444"})
    assert api.post(f"/v1/sessions/{fr}/submit", headers=h).status_code == 200
    d = api.get(f"/v1/sessions/{fr}/decision", headers=h).json()
    assert d["status"] == "approved" and d["reasons"] == [], d
    # A headless browser's attributes: the automation rule sends it to review.
    bot = _run(api, colour_container, jobs, h, "signals", 4, ip="192.0.2.12",
               device={**DEVICE, "webdriver": True, "canvas_hash": "5555666677778888"})
    assert api.post(f"/v1/sessions/{bot}/submit", headers=h).status_code == 200
    d = api.get(f"/v1/sessions/{bot}/decision", headers=h).json()
    assert d["status"] == "in_review" and "bot_review" in d["reasons"], d


def test_the_hosted_device_route_needs_the_browser_session(api: TestClient) -> None:
    r = api.post("/verify/s/device", json=DEVICE)
    assert r.status_code == 401 and r.json()["code"] == "hosted_session_required"
    r = api.post("/verify/s/device", json={**DEVICE, "serial": "X"})
    assert r.status_code == 422
    js = api.get("/sdk/device-post.js")
    assert js.status_code == 200 and "/verify/s/device" in js.text
