"""The sessions API: create (idempotent), read, list, decision, submit, tenancy, bad input."""

from __future__ import annotations

import re

import pytest

from tests.helpers import bearer, get_token

SCOPES = "identity.verify identity.read_status"


@pytest.fixture
def auth(api, make_client):
    c = make_client(scopes=SCOPES)
    return bearer(get_token(api, c))


def create(api, auth, **body):
    body.setdefault("reference", "user-42")
    return api.post("/v1/sessions", json=body, headers=auth)


def test_create_and_read(api, auth, container) -> None:
    r = create(api, auth, workflow="document_only", metadata={"plan": "gold"}, locale="fr")
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["id"].startswith("ses_") and s["status"] == "not_started"
    assert s["url"].startswith("http://testserver/verify/" + s["id"] + ".")
    assert s["workflow"] == "document_only" and s["workflow_version"] == 1
    assert [st["step"] for st in s["steps"]] == ["document"]
    assert r.headers["location"] == f"/v1/sessions/{s['id']}"
    got = api.get(f"/v1/sessions/{s['id']}", headers=auth).json()
    assert got["id"] == s["id"] and "url" not in got and got["metadata"] == {"plan": "gold"}
    d = api.get(f"/v1/sessions/{s['id']}/decision", headers=auth).json()
    assert d["decided"] is False and d["is_verified"] is False and d["reasons"] == []
    actions = [e.action for e in container.audit.list()]
    assert "session.created" in actions


def test_idempotency(api, auth) -> None:
    h = {**auth, "Idempotency-Key": "order-1"}
    a = api.post("/v1/sessions", json={"reference": "u1"}, headers=h)
    b = api.post("/v1/sessions", json={"reference": "u1"}, headers=h)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] == b.json()["id"] and a.json()["url"] == b.json()["url"]
    assert b.headers["idempotent-replayed"] == "true"
    c = api.post("/v1/sessions", json={"reference": "u2"}, headers=h)
    assert c.status_code == 422 and c.json()["code"] == "idempotency_key_reused"
    page = api.get("/v1/sessions", headers=auth).json()
    assert len(page["data"]) == 1


def test_list_filters_and_cursor(api, auth) -> None:
    ids = [create(api, auth, reference=f"u{i % 2}").json()["id"] for i in range(5)]
    page = api.get("/v1/sessions?limit=2", headers=auth).json()
    assert len(page["data"]) == 2 and page["next_cursor"]
    seen = [s["id"] for s in page["data"]]
    # Hex: a WAF reads a base64url cursor holding `--` as an SQL comment (CRS 942440).
    assert re.fullmatch(r"[0-9a-f]+", page["next_cursor"])
    while page["next_cursor"]:
        page = api.get(f"/v1/sessions?limit=2&cursor={page['next_cursor']}",
                       headers=auth).json()
        seen += [s["id"] for s in page["data"]]
    assert sorted(seen) == sorted(ids) and len(set(seen)) == 5
    only = api.get("/v1/sessions?reference=u1", headers=auth).json()["data"]
    assert len(only) == 2
    assert api.get("/v1/sessions?status=approved", headers=auth).json()["data"] == []
    assert api.get("/v1/sessions?status=bogus", headers=auth).json()["code"] == "invalid_status"
    assert api.get("/v1/sessions?cursor=%%%", headers=auth).status_code == 422
    for bad in ("zz", "abc", "ff" * 8):  # not hex, odd length, not a cursor's text
        r = api.get(f"/v1/sessions?cursor={bad}", headers=auth)
        assert r.status_code == 422 and r.json()["code"] == "invalid_cursor", bad


def test_other_tenant_gets_404(api, auth, make_client) -> None:
    sid = create(api, auth).json()["id"]
    other = bearer(get_token(api, make_client(tenant="acme", scopes=SCOPES)))
    for path in (f"/v1/sessions/{sid}", f"/v1/sessions/{sid}/decision"):
        r = api.get(path, headers=other)
        assert r.status_code == 404 and r.json()["code"] == "session_not_found"
    r = api.post(f"/v1/sessions/{sid}/submit", headers=other)
    assert r.status_code == 404
    assert api.get("/v1/sessions", headers=other).json()["data"] == []


def test_scopes(api, make_client) -> None:
    read_only = bearer(get_token(api, make_client(scopes="identity.read_status")))
    r = api.post("/v1/sessions", json={"reference": "x"}, headers=read_only)
    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"
    verify_only = bearer(get_token(api, make_client(scopes="identity.verify")))
    sid = api.post("/v1/sessions", json={"reference": "x"}, headers=verify_only).json()["id"]
    assert api.get(f"/v1/sessions/{sid}", headers=verify_only).status_code == 403
    assert api.post("/v1/sessions", json={"reference": "x"}).status_code == 401


@pytest.mark.parametrize("body,code", [
    ({"reference": "x", "surprise": 1}, "validation_failed"),
    ({"reference": "x", "workflow": "nope"}, "unknown_workflow"),
    ({"reference": "jane doe@example.com"}, "validation_failed"),
    ({"reference": "x", "callback_url": "http://example.com/done"}, "validation_failed"),
    ({"reference": "x", "expires_in": 10}, "validation_failed"),
    ({"reference": "x", "metadata": {f"k{i}": i for i in range(30)}}, "validation_failed"),
    ({}, "validation_failed"),
])
def test_bad_input(api, auth, body, code) -> None:
    r = api.post("/v1/sessions", json=body, headers=auth)
    assert r.status_code == 422 and r.json()["code"] == code
    assert api.get("/v1/sessions", headers=auth).json()["data"] == []
    if "reference" in body and "@" in body["reference"]:
        assert body["reference"] not in r.text  # the submitted value is never echoed


def test_submit_with_missing_steps(api, auth) -> None:
    sid = create(api, auth).json()["id"]
    r = api.post(f"/v1/sessions/{sid}/submit", headers=auth)
    assert r.status_code == 409
    assert r.json()["code"] == "steps_incomplete"
    assert r.json()["incomplete_steps"] == ["document", "selfie", "liveness"]
    assert r.json()["steps"][0] == {"step": "document", "state": "pending", "reasons": []}
    assert api.get(f"/v1/sessions/{sid}", headers=auth).json()["status"] == "not_started"


def test_expiry(api, auth, container, clock) -> None:
    sid = create(api, auth, expires_in=300).json()["id"]
    clock.advance(301)
    r = api.post(f"/v1/sessions/{sid}/submit", headers=auth)
    assert r.status_code == 410 and r.json()["code"] == "session_expired"
    assert container.sessions.expire_due() == 1
    assert api.get(f"/v1/sessions/{sid}", headers=auth).json()["status"] == "expired"
    r = api.post(f"/v1/sessions/{sid}/submit", headers=auth)
    assert r.status_code == 410 and r.json()["code"] == "session_expired"


@pytest.mark.parametrize("locale", ["fr", "fr-CA", "en-GB"])
def test_supported_locale_is_accepted(api, auth, locale) -> None:
    r = create(api, auth, locale=locale)
    assert r.status_code == 201, r.text
    assert r.json()["locale"] == locale


@pytest.mark.parametrize("locale", ["xx", "zz-ZZ", "ja"])
def test_unsupported_locale_is_refused(api, auth, locale) -> None:
    from idproof.verification.schemas import SUPPORTED_LOCALES

    r = create(api, auth, locale=locale)
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "unsupported_locale"
    assert body["supported"] == list(SUPPORTED_LOCALES)
    assert r.headers["content-type"] == "application/problem+json"


def test_malformed_locale_is_a_validation_error(api, auth) -> None:
    r = create(api, auth, locale="french")
    assert r.status_code == 422 and r.json()["code"] == "validation_failed"
