"""The audit page's proofs endpoint for the in-browser check: what it serves (hashes, the signed
checkpoint, the keys), to whom, and how it refuses bad or foreign indexes."""

from __future__ import annotations

import base64
import re

from idproof.audit.checkpoint import open_checkpoint
from idproof.audit.merkle import verify_inclusion
from tests.api.test_console_audit_settings import operator


def _indexes(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-index="(\d+)">', page)]


def test_the_page_loads_the_check_and_the_endpoint_serves_checkable_proofs(
        container, clock) -> None:  # type: ignore[no-untyped-def]
    container.tenants.ensure("other")
    mine = container.clients.create("demo", "identity.verify", actor="opr_alice")
    container.clients.create("other", "identity.verify", actor="opr_bob")
    auditor = operator(container, clock, "auditor")
    cp = container.audit_log.checkpoint()
    late = container.clients.create("demo", "identity.verify", actor="opr_alice")
    page = auditor.get("/console/audit")
    assert page.status_code == 200
    assert '<script src="/console/static/audit_proofs.js" defer></script>' in page.text
    assert 'id="audit-events" data-proofs="/console/audit/proofs"' in page.text
    shown = _indexes(page.text)
    assert len(shown) >= 3 and shown == sorted(shown, reverse=True)

    r = auditor.get("/console/audit/proofs", params={"indexes": ",".join(map(str, shown))})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["cross-origin-resource-policy"] == "same-origin"
    body = r.json()
    assert set(body) == {"checkpoint", "keys", "events", "pending"}
    assert body["checkpoint"] == cp.note and container.audit_log.public_key() in body["keys"]
    opened = open_checkpoint(body["checkpoint"], body["keys"][0])
    # the events the checkpoint covers come with proofs that lead to its signed root
    exported = {e["index"]: e for e in container.audit_log.export()}
    covered = [i for i in shown if i < cp.size]
    assert [e["index"] for e in body["events"]] == covered
    for e in body["events"]:
        assert set(e) == {"index", "leaf_hash", "proof"}  # hashes only: no event field
        assert e["leaf_hash"] == exported[e["index"]]["leaf_hash"]
        verify_inclusion(base64.b64decode(e["leaf_hash"]), e["index"], opened.size,
                         [base64.b64decode(h) for h in e["proof"]], opened.root)
    # the newer ones are said to be pending, not given a proof against a tree without them
    assert body["pending"] == [i for i in shown if i >= cp.size]
    assert any(exported[i]["target_id"] == late.client.id for i in body["pending"])
    # no field of any event: no actor, target, IP or request id
    for value in (mine.client.id, "opr_alice", "127.0.0.1", "testclient"):
        assert value not in r.text

    # the static file is served as a script, without the request choosing a path
    js = auditor.get("/console/static/audit_proofs.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith(
        "application/javascript")
    assert "crypto.subtle" in js.text


def test_foreign_unknown_and_malformed_indexes_are_refused(container, clock) -> None:  # type: ignore[no-untyped-def]
    container.tenants.ensure("other")
    container.clients.create("demo", "identity.verify", actor="opr_alice")
    theirs = container.clients.create("other", "identity.verify", actor="opr_bob")
    auditor = operator(container, clock, "auditor")  # limited to the demo tenant
    container.audit_log.checkpoint()
    events = list(container.audit_log.export())
    other = next(e["index"] for e in events if e["target_id"] == theirs.client.id)
    mine = _indexes(auditor.get("/console/audit").text)[0]
    for asked in (f"{mine},{other}", f"{mine},{10**9}"):
        r = auditor.get("/console/audit/proofs", params={"indexes": asked})
        assert r.status_code == 404, asked
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "event_not_found" and theirs.client.id not in r.text
    for bad in ("", "a", "-1", "1.5", "1;2", ",".join(["1"] * 51), str(1 << 63)):
        r = auditor.get("/console/audit/proofs", params={"indexes": bad})
        assert r.status_code == 422, bad
        assert r.json()["code"] == "invalid_indexes"
    assert auditor.get("/console/audit/proofs").json()["code"] == "invalid_indexes"


def test_the_proofs_need_the_role_and_a_session(container, clock) -> None:  # type: ignore[no-untyped-def]
    container.clients.create("demo", "identity.verify", actor="opr_alice")
    container.audit_log.checkpoint()
    dev = operator(container, clock, "developer")
    r = dev.get("/console/audit/proofs", params={"indexes": "0"})
    assert r.status_code == 403 and "leaf_hash" not in r.text
    dev.cookies.clear()
    r = dev.get("/console/audit/proofs", params={"indexes": "0"}, follow_redirects=False)
    assert r.status_code in (302, 303) and "/console/login" in r.headers["location"]


def test_no_checkpoint_yet_means_every_event_pending(container, clock) -> None:  # type: ignore[no-untyped-def]
    container.clients.create("demo", "identity.verify", actor="opr_alice")
    owner = operator(container, clock, "owner")
    assert container.audit_log.latest_checkpoint() is None
    shown = _indexes(owner.get("/console/audit").text)
    body = owner.get("/console/audit/proofs",
                     params={"indexes": ",".join(map(str, shown))}).json()
    assert body["checkpoint"] is None and body["events"] == [] and body["pending"] == shown
