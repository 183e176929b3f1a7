"""Continue on a phone: QR link single use and short-lived, the desktop only follows after."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from idproof.hosted.router import COOKIE
from tests.api.test_hosted import actions, auth, consent, csrf_of, jpeg, opened  # noqa: F401


def _handoff(api, html: str) -> tuple[str, str]:
    r = api.post("/verify/s/handoff", data={"csrf_token": csrf_of(html)})
    assert r.status_code == 200, r.text
    m = re.search(r'id="qr-link" class="link-text">([^<]+)<', r.text)
    assert m, r.text
    return m.group(1).removeprefix("http://testserver"), r.text


def _phone(api) -> TestClient:
    """A second device: the same server, its own cookie jar."""
    return TestClient(api.app, base_url="http://testserver", client=("127.0.0.2", 50001),
                      raise_server_exceptions=False)


def test_qr_page_shows_a_server_drawn_code_of_a_single_use_link(api, auth, container  # noqa: F811
                                                                ) -> None:
    sid, _path, r = opened(api, auth, workflow="document_selfie")
    link, html = _handoff(api, r.text)
    assert re.fullmatch(r"/verify/h/hof_[A-Za-z0-9]+\.[A-Za-z0-9_-]{40,}", link)
    assert 'src="data:image/svg+xml' in html and 'id="qr"' in html and "alt=" in html
    assert "u-1" not in link and sid not in link  # nothing about the person in the URL
    with _phone(api) as phone:
        first = phone.get(link)
        assert first.status_code == 200 and 'data-page="consent"' in first.text
        assert phone.cookies.get(COOKIE) and phone.cookies.get(COOKIE) != api.cookies.get(COOKIE)
        with _phone(api) as other:
            again = other.get(link)
            assert again.status_code == 410 and "already used" in again.text
    done = actions(container, sid)
    assert "hosted.handoff_created" in done and "hosted.handoff_taken" in done
    assert "hosted.handoff_reused" in done
    (taken,) = container.audit.list(action="hosted.handoff_taken")
    assert taken.details["from"].startswith("hbs_") and taken.actor_id != taken.details["from"]


def test_after_the_phone_takes_over_the_desktop_only_follows(api, auth, container  # noqa: F811
                                                           ) -> None:
    sid, _path, r = opened(api, auth, workflow="document_only")
    consent(api, r.text)
    desk = api.get("/verify/s")
    link, _ = _handoff(api, desk.text)
    assert api.get("/verify/s/status").json()["handed_off"] is False
    with _phone(api) as phone:
        page = phone.get(link)
        assert 'data-page="document"' in page.text  # consent was given on the desktop
        # The desktop: a following page, its captures refused, nothing changed.
        followed = api.get("/verify/s")
        assert 'data-page="watch"' in followed.text and "Continuing on your phone" in followed.text
        assert "/verify/s/withdraw" not in followed.text and "handoff-phone" not in followed.text
        assert api.get("/verify/s/status").json()["handed_off"] is True
        refused = api.post("/verify/s/documents", data={
            "csrf_token": csrf_of(desk.text), "document_type": "passport"},
            files={"front": ("f.jpg", jpeg(), "image/jpeg")})
        assert refused.status_code == 409 and "another device" in refused.text
        assert api.post("/verify/s/cancel", data={"csrf_token": csrf_of(desk.text),
                                                  "confirm": "yes"}).status_code == 409
        assert api.post("/verify/s/challenge",
                        headers={"X-CSRF-Token": csrf_of(desk.text)}).status_code == 409
        assert api.get(f"/v1/sessions/{sid}", headers=auth).json()["status"] == "in_progress"
        # The phone goes on; the desktop sees the end.
        ok = phone.post("/verify/s/cancel", data={"csrf_token": csrf_of(page.text),
                                                  "confirm": "yes"})
        assert ok.status_code == 200
        assert 'data-page="ended"' in api.get("/verify/s").text


def test_a_new_code_replaces_the_old_one_and_codes_expire(api, auth, container  # noqa: F811
                                                         ) -> None:
    _sid, _path, r = opened(api, auth, workflow="document_only")
    old, _ = _handoff(api, r.text)
    new, _ = _handoff(api, r.text)
    with _phone(api) as phone:
        assert phone.get(old).status_code == 404  # replaced: gone
        container.hosted.handoffs.ttl = timedelta(seconds=0)
        late, _ = _handoff(api, r.text)
        assert phone.get(late).status_code == 410
        assert phone.get(new).status_code == 404
        assert phone.get("/verify/h/hof_x.notatoken").status_code == 404
        assert phone.get("/verify/h/" + "a" * 200).status_code == 404


def test_handoff_needs_csrf_and_an_open_session(api, auth) -> None:  # noqa: F811
    _sid, _path, r = opened(api, auth, workflow="document_only")
    assert api.post("/verify/s/handoff", data={"csrf_token": "x"}).status_code == 403
    consent(api, r.text)
    api.post("/verify/s/cancel", data={"csrf_token": csrf_of(r.text), "confirm": "yes"})
    assert api.post("/verify/s/handoff",
                    data={"csrf_token": csrf_of(r.text)}).status_code == 409


def test_the_handoff_secret_never_reaches_the_logs(api, auth) -> None:  # noqa: F811
    from idproof.core.logging import scrub_text

    _sid, _path, r = opened(api, auth, workflow="document_only")
    link, _ = _handoff(api, r.text)
    secret = link.rsplit(".", 1)[1]
    assert secret not in scrub_text(f"GET {link} 200")
    assert link.rsplit(".", 1)[0] in scrub_text(f"GET {link} 200")  # the id stays
