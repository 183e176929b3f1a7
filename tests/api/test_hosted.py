"""The hosted flow over HTTP: link exchange, single use, cookies, CSRF, consent, uploads."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from sqlalchemy import select

from idproof.audit.models import AuditEventRow
from idproof.hosted.models import BrowserSession, ConsentRecord
from idproof.hosted.router import COOKIE
from tests.helpers import bearer, get_token

ORIGIN = "https://app.example"


@pytest.fixture
def auth(api, make_client):
    return bearer(get_token(api, make_client(allowed_origins=[ORIGIN])))


def new_session(api, auth, **body):
    body = {"reference": "u-1", "workflow": "document_only", **body}
    r = api.post("/v1/sessions", json=body, headers=auth)
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["url"].removeprefix("http://testserver")


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def jpeg(w=640, h=400) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (120, 130, 140)).save(buf, format="JPEG")
    return buf.getvalue()


def opened(api, auth, **body):
    sid, path = new_session(api, auth, **body)
    r = api.get(path)
    assert r.status_code == 200, r.text
    return sid, path, r


def consent(api, html):
    return api.post("/verify/s/consent", data={"csrf_token": csrf_of(html), "agree": "yes",
                                               "version": "2026-11-1"},
                    follow_redirects=False)


def actions(container, target):
    with container.db.read() as s:
        return [r.action for r in s.scalars(select(AuditEventRow)
                                            .where(AuditEventRow.target_id == target))]


def test_link_opens_consent_with_strict_cookie_and_csp(api, auth, container) -> None:
    sid, _path, r = opened(api, auth)
    assert "Before we start" in r.text
    cookie = r.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/verify" in cookie
    assert "Secure" not in cookie  # public_url is http in tests
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert f"frame-ancestors {ORIGIN}" in csp
    assert "<script>" not in r.text and "onclick" not in r.text
    assert f'data-origins="{ORIGIN}"' in r.text
    assert r.headers["cache-control"] == "no-store"
    # Only a hash of the cookie is stored.
    value = api.cookies.get(COOKIE)
    with container.db.read() as s:
        row = s.scalar(select(BrowserSession).where(BrowserSession.session_id == sid))
        assert row is not None and value not in row.cookie_hash
    assert "hosted.link_opened" in actions(container, sid)


def test_reload_in_same_browser_then_second_device_gets_used_page(api, auth, container
                                                                  ) -> None:
    sid, path, _r = opened(api, auth)
    assert api.get(path).status_code == 200  # same cookie: a reload
    cookies = dict(api.cookies)
    api.cookies.clear()
    second = api.get(path)
    assert second.status_code == 410
    assert "already used" in second.text
    # The answer page may be framed by the client's own pages (SDK modal/embed) only.
    assert f"frame-ancestors {ORIGIN}" in second.headers["content-security-policy"]
    assert "Before we start" not in second.text
    assert "set-cookie" not in second.headers
    assert "hosted.link_reused" in actions(container, sid)
    api.cookies.update(cookies)


def test_forged_and_expired_links(api, auth, container, clock) -> None:
    _sid, path, _r = opened(api, auth)
    assert api.get(path[:-3] + "abc").status_code == 404
    assert api.get("/verify/ses_nothing.AAAA").status_code == 404
    _sid2, path2 = new_session(api, auth, reference="u-2", expires_in=300)
    clock.advance(301)
    api.cookies.clear()
    r = api.get(path2)
    assert r.status_code == 410 and "ended" in r.text


def test_csrf_required_on_every_post(api, auth, container) -> None:
    sid, _path, r = opened(api, auth)
    for data in ({}, {"csrf_token": "forged"}):
        bad = api.post("/verify/s/consent", data={**data, "agree": "yes",
                                                  "version": "2026-11-1"})
        assert bad.status_code == 403
    with container.db.read() as s:
        assert s.scalar(select(ConsentRecord)) is None
    # A foreign Origin is refused even with the right token.
    bad = api.post("/verify/s/consent", data={"csrf_token": csrf_of(r.text), "agree": "yes",
                                              "version": "2026-11-1"},
                   headers={"origin": "https://evil.example"})
    assert bad.status_code == 403
    assert api.post("/verify/s/challenge").status_code == 403
    assert "hosted.csrf_rejected" in actions(container, sid)


def test_no_consent_no_processing(api, auth, container) -> None:
    sid, _path, r = opened(api, auth)
    token = csrf_of(r.text)
    up = api.post("/verify/s/documents", data={"csrf_token": token,
                                               "document_type": "passport"},
                  files={"front": ("f.jpg", jpeg(), "image/jpeg")}, follow_redirects=False)
    assert up.status_code == 303
    page = api.get("/verify/s")
    assert "Before we start" in page.text  # back to consent, nothing stored
    status = api.get(f"/v1/sessions/{sid}", headers=auth).json()
    assert status["status"] == "not_started"
    assert status["steps"][0]["attempts"] == 0
    # Unticked box: asked again, still nothing.
    again = api.post("/verify/s/consent", data={"csrf_token": token, "version": "2026-11-1"})
    assert again.status_code == 422 and "tick the box" in again.text


def test_consent_recorded_then_document_page(api, auth, container) -> None:
    sid, _path, r = opened(api, auth)
    done = consent(api, r.text)
    assert done.status_code == 303 and done.headers["location"] == "/verify/s"
    with container.db.read() as s:
        rec = s.scalar(select(ConsentRecord).where(ConsentRecord.session_id == sid))
        assert rec is not None and rec.text_version == "2026-11-1" and rec.locale == "en"
    with container.db.read() as s:
        ev = s.scalar(select(AuditEventRow).where(AuditEventRow.action ==
                                                  "hosted.consent_given"))
        assert ev is not None and ev.ip == "127.0.0.1" and ev.actor_type == "end_user"
    page = api.get("/verify/s")
    assert "Your identity document" in page.text
    assert 'id="back-field"' in page.text
    assert api.get(f"/v1/sessions/{sid}", headers=auth).json()["status"] == "in_progress"
    # A second consent (double submit) changes nothing.
    assert consent(api, page.text).status_code == 303


def test_uploads_checked_and_stored(api, auth, container) -> None:
    sid, _path, r = opened(api, auth)
    consent(api, r.text)
    token = csrf_of(api.get("/verify/s").text)
    wrong = api.post("/verify/s/documents", data={"csrf_token": token,
                                                  "document_type": "passport"},
                     files={"front": ("f.txt", b"hello, not an image", "text/plain")})
    assert wrong.status_code == 415 and "JPEG, PNG" in wrong.text
    missing_back = api.post("/verify/s/documents",
                            data={"csrf_token": token, "document_type": "id_card"},
                            files={"front": ("f.jpg", jpeg(), "image/jpeg")})
    assert missing_back.status_code == 422 and "back side" in missing_back.text
    not_allowed = api.post("/verify/s/documents",
                           data={"csrf_token": token, "document_type": "library_card"},
                           files={"front": ("f.jpg", jpeg(), "image/jpeg")})
    assert not_allowed.status_code == 422
    big = api.post("/verify/s/documents", data={"csrf_token": token,
                                                "document_type": "passport"},
                   files={"front": ("f.jpg", b"\xff\xd8\xff" + b"0" * (10 * 1024 * 1024),
                                    "image/jpeg")})
    assert big.status_code == 413
    body = api.get(f"/v1/sessions/{sid}", headers=auth).json()
    assert body["steps"][0]["attempts"] == 0  # nothing of that was kept
    ok = api.post("/verify/s/documents", data={"csrf_token": token,
                                               "document_type": "passport"},
                  files={"front": ("f.jpg", jpeg(), "image/jpeg")}, follow_redirects=False)
    assert ok.status_code == 303
    body = api.get(f"/v1/sessions/{sid}", headers=auth).json()
    assert body["steps"][0]["attempts"] == 1 and body["steps"][0]["state"] == "processing"
    assert "Checking" in api.get("/verify/s").text
    ev = [a for a in actions(container, sid) if a == "session.document_uploaded"]
    assert ev


def test_locale_from_session_then_browser(api, auth) -> None:
    _sid, _path, r = opened(api, auth, locale="fr")
    assert "Avant de commencer" in r.text and 'lang="fr"' in r.text
    api.cookies.clear()
    _sid, path = new_session(api, auth, reference="u-9")
    r = api.get(path, headers={"accept-language": "ja-JP,fr;q=0.8,en;q=0.5"})
    assert "Avant de commencer" in r.text


def test_cancel_asks_first_then_ends_the_session_as_cancelled(api, auth, container) -> None:
    sid, _path, r = opened(api, auth)
    ask = api.post("/verify/s/cancel", data={"csrf_token": csrf_of(r.text)})
    assert ask.status_code == 200 and "Cancel the verification?" in ask.text
    assert 'name="confirm" value="yes"' in ask.text and 'href="/verify/s"' in ask.text
    assert 'data-event="cancel"' not in ask.text
    assert api.get(f"/v1/sessions/{sid}", headers=auth).json()["status"] == "not_started"
    out = api.post("/verify/s/cancel", data={"csrf_token": csrf_of(ask.text),
                                             "confirm": "yes"})
    assert out.status_code == 200 and 'data-event="cancel"' in out.text
    assert 'data-status="cancelled"' in out.text
    assert api.get(f"/v1/sessions/{sid}", headers=auth).json()["status"] == "cancelled"
    assert "has ended" in api.get("/verify/s").text
    (event,) = container.audit.list(action="session.cancelled")
    assert event.actor_type == "end_user" and event.details == {"by": "end_user",
                                                                  "via": "page"}
    # Again: nothing changes, no second event.
    api.post("/verify/s/cancel", data={"csrf_token": csrf_of(ask.text), "confirm": "yes"})
    assert len(container.audit.list(action="session.cancelled")) == 1
    # Listed by its status.
    listed = api.get("/v1/sessions?status=cancelled", headers=auth).json()["data"]
    assert [s["id"] for s in listed] == [sid]


def test_cancel_emits_session_cancelled_to_subscribers(api, auth, container,
                                                       make_client) -> None:
    from idproof.webhooks.models import WebhookEvent

    manager = make_client(scopes="webhooks.manage")
    hook = api.post("/v1/webhooks", headers=bearer(get_token(api, manager)),
                    json={"url": "https://8.8.8.8/h", "event_types": ["session.cancelled"]})
    assert hook.status_code == 201, hook.text
    _sid, _path, r = opened(api, auth)
    api.post("/verify/s/cancel", data={"csrf_token": csrf_of(r.text), "confirm": "yes",
                                       "via": "sdk"})
    with container.db.read() as s:
        events = list(s.scalars(select(WebhookEvent)))
    assert [e.type for e in events] == ["session.cancelled"]
    (event,) = container.audit.list(action="session.cancelled")
    assert event.details["via"] == "sdk"


def test_no_cookie_pages(api) -> None:
    assert api.get("/verify/s").status_code == 401
    assert api.get("/verify/s/status").status_code == 401
    assert api.post("/verify/s/consent", data={"agree": "yes"}).status_code == 401


def test_sdk_and_assets_served(api) -> None:
    sdk = api.get("/sdk/idproof.js")
    assert sdk.status_code == 200 and "javascript" in sdk.headers["content-type"]
    assert "event.origin !== idproofOrigin" in sdk.text
    assert api.get("/verify/assets/hosted.js").status_code == 200
    assert api.get("/verify/assets/hosted.css").status_code == 200
    assert api.get("/verify/assets/../x").status_code == 404


def test_liveness_challenge_needs_consent_and_csrf(api, auth, container) -> None:
    sid, _path, r = opened(api, auth, workflow="kyc_standard")
    token = csrf_of(r.text)
    refused = api.post("/verify/s/challenge", headers={"x-csrf-token": token})
    assert refused.status_code == 409 and refused.json()["code"] == "consent_required"
    consent(api, r.text)
    assert api.post("/verify/s/challenge",
                    headers={"x-csrf-token": "nope"}).json()["code"] == "csrf_failed"
    ok = api.post("/verify/s/challenge", headers={"x-csrf-token": token})
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["challenge_id"] and 2 <= len(body["actions"]) <= 3
    few = api.post("/verify/s/liveness", headers={"x-csrf-token": token},
                   data={"challenge_id": body["challenge_id"], "timestamps": "[1]"},
                   files=[("frames", ("f.jpg", jpeg(), "image/jpeg"))])
    assert few.status_code == 422
    bad_ts = api.post("/verify/s/liveness", headers={"x-csrf-token": token},
                      data={"challenge_id": body["challenge_id"], "timestamps": "nope"},
                      files=[("frames", ("f.jpg", jpeg(), "image/jpeg"))] * 10)
    assert bad_ts.status_code == 422 and bad_ts.json()["code"] == "invalid_timestamps"
    steps = api.get(f"/v1/sessions/{sid}", headers=auth).json()["steps"]
    assert all(s["attempts"] == 0 for s in steps)  # nothing was spent


def test_selfie_without_consent_changes_nothing(api, auth) -> None:
    sid, _path, r = opened(api, auth, workflow="document_selfie")
    out = api.post("/verify/s/selfie", data={"csrf_token": csrf_of(r.text)},
                   files={"file": ("s.jpg", jpeg(), "image/jpeg")}, follow_redirects=False)
    assert out.status_code == 303
    steps = api.get(f"/v1/sessions/{sid}", headers=auth).json()["steps"]
    assert all(s["attempts"] == 0 for s in steps)


def test_status_json(api, auth) -> None:
    sid, _path, _r = opened(api, auth)
    body = api.get("/verify/s/status").json()
    assert body == {"session_id": sid, "status": "not_started", "page": "consent",
                    "processing": False, "handed_off": False}


def test_tenant_of_the_link_is_the_sessions(api, auth, make_client) -> None:
    # A link names one session; another tenant's token cannot read it and the browser
    # session acts only on that session.
    sid, _path, _r = opened(api, auth)
    other = bearer(get_token(api, make_client(tenant="other")))
    assert api.get(f"/v1/sessions/{sid}", headers=other).status_code == 404


def test_erasure_takes_the_hosted_rows_too(api, make_client, container) -> None:
    auth = bearer(get_token(api, make_client(
        scopes="identity.verify identity.read_status identity.delete")))
    sid, _path, r = opened(api, auth)
    consent(api, r.text)
    assert api.delete(f"/v1/sessions/{sid}", headers=auth).status_code == 204
    with container.db.read() as s:
        assert s.scalar(select(ConsentRecord).where(ConsentRecord.session_id == sid)) is None
        assert s.scalar(select(BrowserSession).where(BrowserSession.session_id == sid)) is None
    # The browser's cookie no longer opens anything.
    assert api.get("/verify/s").status_code == 401


def test_expired_browser_sessions_end_and_are_purged(api, make_client, container, clock
                                                     ) -> None:
    client = make_client()
    sid, _path, _r = opened(api, bearer(get_token(api, client)))
    clock.advance(3601)  # past the cookie's hour
    assert api.get("/verify/s").status_code == 401
    api.cookies.clear()
    opened(api, bearer(get_token(api, client)), reference="u-next")
    with container.db.read() as s:
        assert s.scalar(select(BrowserSession).where(BrowserSession.session_id == sid)) is None


def test_csrf_tokens_hold_nothing_a_waf_reads_as_sql(container) -> None:
    """Hex: a base64url token held `--` about once in a hundred, and the OWASP CRS gateway
    refused that consent form as an SQL comment (rule 942440)."""
    tokens = {container.hosted.csrf_token(f"cookie-{i}") for i in range(3000)}
    assert len(tokens) == 3000
    assert all(re.fullmatch(r"[0-9a-f]{64}", t) for t in tokens)
    assert container.hosted.check_csrf("cookie-1", container.hosted.csrf_token("cookie-1"))
    assert not container.hosted.check_csrf("cookie-1", container.hosted.csrf_token("cookie-2"))
