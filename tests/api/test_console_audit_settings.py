"""Console audit pages (filters, proofs verified on the server, JSONL, checkpoints) and settings."""

from __future__ import annotations

import json
import re

from starlette.testclient import TestClient

from idproof.bootstrap import Container
from idproof.web.app import create_app
from tests.audit_log_support import drop_triggers
from tests.console_helpers import csrf, enroll_totp


def operator(container: Container, clock, role: str, email: str | None = None,  # type: ignore[no-untyped-def]
             tenants=("demo",)) -> TestClient:
    issued = container.operators.create(email or f"{role}@example.com", role,
                                        None if role == "owner" else list(tenants))
    tc = TestClient(create_app(container), client=("127.0.0.1", 50000),
                    raise_server_exceptions=False)
    enroll_totp(tc, issued.enrollment_url, clock)
    return tc


def test_audit_filters_verify_export_checkpoints(container, clock) -> None:
    container.tenants.ensure("other")
    mine = container.clients.create("demo", "identity.verify", actor="opr_alice")
    theirs = container.clients.create("other", "identity.verify", actor="opr_bob")
    container.clients.disable(mine.client.id, actor="opr_alice")
    auditor = operator(container, clock, "auditor")
    container.audit_log.checkpoint()
    r = auditor.get("/console/audit")
    assert r.status_code == 200 and mine.client.id in r.text
    assert theirs.client.id not in r.text  # another tenant's events are not shown
    r = auditor.get(f"/console/audit?subject={mine.client.id}&action=client.disabled")
    assert r.text.count("<td>client.disabled</td>") == 1 and "client.created" not in r.text
    r = auditor.get("/console/audit?actor=opr_alice")
    assert "client.created" in r.text and "client.disabled" in r.text
    assert "No event matches" in auditor.get("/console/audit?actor=opr_nobody").text
    assert auditor.get("/console/audit?from=2030-01-02&to=2030-01-01").status_code == 422
    assert auditor.get("/console/audit?actor=%3Cscript%3E").status_code == 422
    # verify an event's inclusion against the latest signed checkpoint, on the server
    index = int(re.search(r'/console/audit/verify\?index=(\d+)', r.text).group(1))
    r = auditor.get(f"/console/audit/verify?index={index}")
    assert r.status_code == 200 and "&#10003; Verified" in r.text, r.text
    events = list(container.audit_log.export())
    other_idx = next(e["index"] for e in events if e["target_id"] == theirs.client.id)
    assert auditor.get(f"/console/audit/verify?index={other_idx}").status_code == 404
    # an event after the checkpoint is not covered yet: said plainly, not "verified"
    container.clients.disable(theirs.client.id, actor="opr_bob")
    container.clients.create("demo", "identity.verify", actor="opr_alice")
    late = list(container.audit_log.export())[-1]["index"]
    r = auditor.get(f"/console/audit/verify?index={late}")
    assert "Not verified" in r.text and "No signed checkpoint covers" in r.text
    # checkpoints, and consistency between two of them
    first = container.audit_log.latest_checkpoint().size
    second = container.audit_log.checkpoint().size
    r = auditor.get("/console/audit/checkpoints")
    assert r.status_code == 200 and r.text.count("<td>valid</td>") == 2
    r = auditor.get(f"/console/audit/checkpoints?first={first}&second={second}")
    assert "&#10003; Verified" in r.text and f"extends the tree of {first}" in r.text
    assert auditor.get(f"/console/audit/checkpoints?first={second}&second={first}"
                       ).status_code == 422
    # JSONL export: the filtered events, each line verifiable (index and leaf hash)
    r = auditor.get("/console/audit/export.jsonl?actor=opr_alice")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert [x["action"] for x in lines] == ["client.created", "client.disabled",
                                            "client.created"]
    assert all("leaf_hash" in x and "index" in x for x in lines)
    (ev,) = container.audit.list(action="audit.exported")
    assert ev.actor_type == "operator" and ev.details["rows"] == 3


def test_audit_pages_need_the_auditor_role(container, clock) -> None:
    container.clients.create("demo", "identity.verify", actor="opr_alice")
    dev = operator(container, clock, "developer")
    for path in ("/console/audit", "/console/audit/checkpoints",
                 "/console/audit/export.jsonl", "/console/audit/verify?index=0"):
        r = dev.get(path)
        assert r.status_code == 403 and "opr_alice" not in r.text, path
    assert not container.audit.list(action="audit.exported")


def _settings_form(page: str, **changes: str) -> dict[str, str]:
    fields = dict(re.findall(r'name="([a-z_]+)"[^>]*value="([^"]*)"', page))
    fields.pop("tenant", None)
    fields.pop("four_eyes", None)
    return {**fields, **changes}


def test_settings_validated_versioned_and_audited(container, clock) -> None:
    admin = operator(container, clock, "admin")
    page = admin.get("/console/settings")
    assert page.status_code == 200 and 'value="24"' in page.text
    form = _settings_form(page.text, sla_hours="8", four_eyes="true", unsuccessful_days="60")
    stale = dict(form)
    r = admin.post("/console/settings?tenant=demo", data=form)
    assert r.status_code == 200 and "Settings saved" in r.text, r.text
    demo = container.tenants.get("demo").id
    review = container.sessions.review_settings(demo)
    assert (review.sla_hours, review.four_eyes) == (8, True)
    assert container.retention.policy(demo).unsuccessful_days == 60
    # a form drawn before that change is refused whole: nothing overwritten
    stale["sla_hours"] = "12"
    r = admin.post("/console/settings?tenant=demo", data=stale)
    assert r.status_code == 409 and "Nothing was saved" in r.text
    assert container.sessions.review_settings(demo).sla_hours == 8
    # out of range, unknown field, markup: 422 and nothing saved
    fresh = _settings_form(admin.get("/console/settings").text)
    for bad in ({"sla_hours": "0"}, {"raw_images_hours": "100000"},
                {"extracted_fields_days": "<b>"}, {"colour": "red"}):
        r = admin.post("/console/settings?tenant=demo", data={**fresh, **bad})
        assert r.status_code == 422 and "Nothing was saved" in r.text, bad
        assert "<b>" not in r.text
    assert container.sessions.review_settings(demo).sla_hours == 8
    events = {e.action: e for e in container.audit.list()
              if e.action in {"tenant.review_settings_changed", "privacy.retention_changed"}}
    assert set(events) == {"tenant.review_settings_changed", "privacy.retention_changed"}
    assert all(e.actor_type == "operator" for e in events.values())
    # another tenant's settings: 404
    container.tenants.ensure("other")
    assert admin.get("/console/settings?tenant=other").status_code == 404
    r = admin.post("/console/settings?tenant=other", data={**fresh, "csrf_token": csrf(page.text)})
    assert r.status_code == 404


def test_audit_verify_catches_tampering(container, clock) -> None:
    from sqlalchemy import select, text

    from idproof.audit.leaf import event_leaf_hash, leaf_fields
    from idproof.audit.models import AuditEventRow

    issued = container.clients.create("demo", "identity.verify", actor="opr_alice")
    container.audit_log.checkpoint()
    auditor = operator(container, clock, "auditor")
    index = next(e["index"] for e in container.audit_log.export()
                 if e["target_id"] == issued.client.id)
    assert "&#10003; Verified" in auditor.get(f"/console/audit/verify?index={index}").text
    drop_triggers(container.db.engine)  # an attacker with raw database access
    with container.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET outcome = 'failure' WHERE idx = :k"),
                     {"k": index})
    r = auditor.get(f"/console/audit/verify?index={index}")
    assert "Not verified" in r.text and "do not match its stored leaf hash" in r.text
    # the edit with its leaf hash recomputed: the proof no longer reaches the signed root
    with container.db.read() as s:
        row = s.scalar(select(AuditEventRow).where(AuditEventRow.idx == index))
        forged = event_leaf_hash(leaf_fields(row))
    with container.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET leaf_hash = :h WHERE idx = :k"),
                     {"h": forged, "k": index})
    r = auditor.get(f"/console/audit/verify?index={index}")
    assert "Not verified" in r.text and "inclusion proof fails" in r.text


def test_audit_export_asks_for_the_second_factor_again(container, clock) -> None:
    auditor = operator(container, clock, "auditor")
    clock.advance(301)  # the second factor is now older than the step-up window
    r = auditor.get("/console/audit/export.jsonl", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/step-up")
    assert not container.audit.list(action="audit.exported")
    assert auditor.get("/console/audit").status_code == 200  # reading needs no step-up
