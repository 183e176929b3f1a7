"""`/v1/audit`: checkpoint, inclusion and consistency proofs, and the tenant's own events."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from idproof.audit.checkpoint import open_checkpoint
from idproof.audit.events import AuditEvent
from idproof.audit.leaf import event_leaf_hash, format_time
from idproof.audit.merkle import verify_consistency, verify_inclusion
from idproof.bootstrap import Container
from idproof.core.clock import FrozenClock
from tests.helpers import bearer, get_token

PROBLEM = "application/problem+json"


def _b(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


@pytest.fixture
def world(api: TestClient, container: Container, make_client: Any) -> dict[str, Any]:
    """Events of two tenants and of the system, an auditor token for each tenant."""
    container.audit_log.every_seconds = 0  # checkpoints only when a test makes them
    mine = make_client("demo", scopes="audit.read")
    theirs = make_client("other", scopes="audit.read")
    plain = make_client("demo", scopes="identity.verify")
    demo = container.tenants.find("demo")
    other = container.tenants.find("other")
    assert demo is not None and other is not None
    container.audit.record(AuditEvent(action="system.thing"))  # no tenant
    container.audit.record_many(
        AuditEvent(action="demo.read" if i % 2 else "demo.write", tenant_id=demo.id,
                   target_type="session", target_id=f"ses_{i}", details={"i": i})
        for i in range(7))
    container.audit.record(AuditEvent(action="other.write", tenant_id=other.id))
    return {"me": bearer(get_token(api, mine)), "them": bearer(get_token(api, theirs)),
            "plain": bearer(get_token(api, plain)), "demo_id": demo.id, "other_id": other.id}


def _events(api: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = api.get("/v1/audit/events", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _problem(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["code"] == code


def _index(api: TestClient, headers: dict[str, str], action: str) -> int:
    return int(_events(api, headers, action=action)["events"][0]["index"])


def test_scope_and_authentication(api: TestClient, world: dict[str, Any]) -> None:
    for path in ("/v1/audit/checkpoint", "/v1/audit/events",
                 "/v1/audit/proof/inclusion?index=0", "/v1/audit/proof/consistency?first=1"):
        _problem(api.get(path), 401, "missing_token")
        _problem(api.get(path, headers=world["plain"]), 403, "insufficient_scope")


def test_checkpoint(api: TestClient, container: Container, world: dict[str, Any]) -> None:
    _problem(api.get("/v1/audit/checkpoint", headers=world["me"]), 404, "no_checkpoint")
    made = container.audit_log.checkpoint()
    r = api.get("/v1/audit/checkpoint", headers=world["me"])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    cp = open_checkpoint(r.text, container.audit_log.public_key())
    assert (cp.size, cp.root) == (made.size, made.root)
    # Every tenant sees the one global checkpoint.
    assert api.get("/v1/audit/checkpoint", headers=world["them"]).text == r.text


def test_events_are_the_tenants_own_paged_and_filtered(
        api: TestClient, container: Container, clock: FrozenClock,
        world: dict[str, Any]) -> None:
    page = _events(api, world["me"], limit=3)
    assert len(page["events"]) == 3 and page["next_after"] == page["events"][-1]["index"]
    seen = list(page["events"])
    while page["next_after"] is not None:
        page = _events(api, world["me"], limit=3, after=page["next_after"])
        seen += page["events"]
    assert {e["tenant_id"] for e in seen} == {world["demo_id"]}
    indexes = [e["index"] for e in seen]
    assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)
    assert {"demo.read", "demo.write", "token.issued"} <= {e["action"] for e in seen}
    for e in seen:  # each event carries what it takes to recompute its leaf
        fields = {k: v for k, v in e.items() if k not in ("index", "leaf_hash")}
        assert event_leaf_hash(fields) == _b(e["leaf_hash"])

    reads = _events(api, world["me"], action="demo.read")["events"]
    assert len(reads) == 3 and all(e["action"] == "demo.read" for e in reads)
    assert _events(api, world["them"], action="demo.read")["events"] == []

    now = clock.now()
    clock.advance(10)
    container.audit.record(AuditEvent(action="demo.late", tenant_id=world["demo_id"]))
    later = format_time(now + timedelta(seconds=5))
    late = _events(api, world["me"], since=later)["events"]
    assert [e["action"] for e in late] == ["demo.late"]
    early = _events(api, world["me"], until=later.replace("Z", ""))["events"]  # naive: UTC
    assert "demo.late" not in {e["action"] for e in early} and early
    _problem(api.get("/v1/audit/events", params={"since": later, "until": later},
                     headers=world["me"]), 422, "invalid_time_range")
    for bad in ({"limit": 501}, {"limit": 0}, {"after": -1}, {"since": "yesterday"},
                {"action": "x" * 65}):
        _problem(api.get("/v1/audit/events", params=bad, headers=world["me"]), 422,
                 "validation_failed")


def test_inclusion_proof(api: TestClient, container: Container, world: dict[str, Any]) -> None:
    index = _index(api, world["me"], "demo.read")
    cp = container.audit_log.checkpoint()
    r = api.get("/v1/audit/proof/inclusion", params={"index": index, "tree_size": cp.size},
                headers=world["me"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"index", "tree_size", "leaf_hash", "proof"}
    assert (body["index"], body["tree_size"]) == (index, cp.size)
    verify_inclusion(_b(body["leaf_hash"]), index, cp.size, [_b(p) for p in body["proof"]],
                     cp.root)
    # Without tree_size: the latest checkpoint's.
    r = api.get("/v1/audit/proof/inclusion", params={"index": index}, headers=world["me"])
    assert r.json() == body
    # Any smaller tree that holds the event works too.
    r = api.get("/v1/audit/proof/inclusion", params={"index": index, "tree_size": index + 1},
                headers=world["me"])
    assert r.status_code == 200 and r.json()["tree_size"] == index + 1


def test_inclusion_proof_errors(api: TestClient, container: Container,
                                world: dict[str, Any]) -> None:
    mine = _index(api, world["me"], "demo.write")
    theirs = _index(api, world["them"], "other.write")
    container.audit_log.checkpoint()
    size = container.audit_log.size()
    system = 0  # the first event of the log is the signing key's creation: no tenant

    def get(**params: int) -> Any:
        return api.get("/v1/audit/proof/inclusion", params=params, headers=world["me"])

    # Another tenant's, a system event and no event at all look the same.
    for index in (theirs, system, size + 100):
        _problem(get(index=index, tree_size=size), 404, "event_not_found")
    _problem(get(index=theirs), 404, "event_not_found")
    _problem(get(index=mine, tree_size=mine), 422, "index_not_in_tree")
    _problem(get(index=mine, tree_size=size + 1), 422, "tree_size_beyond_log")
    for bad in ({"index": -1}, {"index": 2**63}, {"index": mine, "tree_size": 0}):
        _problem(get(**bad), 422, "validation_failed")
    _problem(api.get("/v1/audit/proof/inclusion", params={"index": "x"}, headers=world["me"]),
             422, "validation_failed")
    # An event newer than the latest checkpoint has no default tree size yet.
    container.audit.record(AuditEvent(action="demo.new", tenant_id=world["demo_id"]))
    _problem(get(index=size), 404, "not_yet_checkpointed")
    assert get(index=size, tree_size=size + 1).status_code == 200


def test_consistency_proof(api: TestClient, container: Container, world: dict[str, Any]) -> None:
    old = container.audit_log.checkpoint()
    container.audit.record_many(AuditEvent(action="more") for _ in range(5))
    new = container.audit_log.checkpoint()

    def get(**params: int) -> Any:
        return api.get("/v1/audit/proof/consistency", params=params, headers=world["me"])

    r = get(first=old.size, second=new.size)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"first", "second", "proof"}
    verify_consistency(old.size, new.size, [_b(p) for p in body["proof"]], old.root, new.root)
    assert get(first=old.size).json() == body  # second defaults to the latest checkpoint
    assert get(first=new.size, second=new.size).json()["proof"] == []
    _problem(get(first=new.size, second=old.size), 422, "invalid_tree_sizes")
    _problem(get(first=1, second=new.size + 1), 422, "tree_size_beyond_log")
    _problem(get(first=0, second=new.size), 422, "validation_failed")
