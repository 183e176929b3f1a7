"""Tenant branding on the hosted pages, the tenant's consent text, and consent withdrawal."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from tests.api.test_hosted import ORIGIN, consent, csrf_of, jpeg, opened
from tests.helpers import bearer, get_token

BRAND = {"display_name": "Acme Bank", "accent_color": "#8a1538",
         "background_color": "#fdfaf3", "privacy_url": "https://acme.example/privacy",
         "support_contact": "help@acme.example"}


@pytest.fixture
def auth(api, make_client):  # type: ignore[no-untyped-def]
    return bearer(get_token(api, make_client(
        scopes="identity.verify identity.read_status branding.manage privacy.manage",
        allowed_origins=[ORIGIN])))


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (300, 100), (138, 21, 56, 255)).save(buf, format="PNG")
    return buf.getvalue()


def test_branding_is_set_checked_and_shown_under_a_strict_csp(api, auth, container) -> None:
    assert api.get("/v1/branding", headers=auth).status_code == 404
    r = api.put("/v1/branding", headers=auth, json=BRAND)
    assert r.status_code == 200 and r.json()["logo"] is False
    r = api.put("/v1/branding/logo", headers={**auth, "Content-Type": "image/png"},
                content=_png())
    assert r.status_code == 200 and r.json()["logo"] is True
    assert api.get("/v1/branding", headers=auth).json()["display_name"] == "Acme Bank"
    assert [e.action for e in container.audit.list(action="hosted.branding_updated")] == [
        "hosted.branding_updated"]

    _sid, _path, page = opened(api, auth)
    html = page.text
    assert "Acme Bank" in html and "This verification is requested by Acme Bank." in html
    css = re.search(r'href="(/verify/assets/brand/[^"]+\.css)"', html)
    logo = re.search(r'src="(/verify/assets/brand/[^"]+\.png)"', html)
    assert css and logo
    assert 'alt="Acme Bank logo"' in html
    assert 'href="https://acme.example/privacy"' in html and "mailto:help@acme.example" in html
    csp = page.headers["content-security-policy"]
    assert "style-src 'self';" in csp and "img-src 'self' blob: data:;" in csp
    assert "unsafe-inline" not in csp and "style=" not in html
    sheet = api.get(css.group(1))
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/css")
    assert sheet.text == ":root { --accent: #8a1538; --bg: #fdfaf3; }\n"
    image = api.get(logo.group(1))
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert api.get(css.group(1).replace(".css", "0.css")).status_code == 404


@pytest.mark.parametrize(("body", "status"), [
    ({**BRAND, "accent_color": "#ffcc00"}, 422),  # white text on yellow: too little contrast
    ({**BRAND, "accent_color": "blue"}, 422),
    ({**BRAND, "privacy_url": "javascript:alert(1)"}, 422),
    ({**BRAND, "script": "x"}, 422),
])
def test_bad_branding_is_refused_and_changes_nothing(api, auth, body, status) -> None:
    assert api.put("/v1/branding", headers=auth, json=BRAND).status_code == 200
    r = api.put("/v1/branding", headers=auth, json=body)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "Traceback" not in r.text
    assert api.get("/v1/branding", headers=auth).json()["accent_color"] == "#8a1538"


def test_logo_must_be_an_image_and_branding_needs_its_scope(api, auth, make_client) -> None:
    api.put("/v1/branding", headers=auth, json=BRAND)
    svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"
    r = api.put("/v1/branding/logo", headers={**auth, "Content-Type": "image/svg+xml"},
                content=svg)
    assert r.status_code == 415 and r.json()["code"] == "unsupported_image_type"
    assert api.get("/v1/branding", headers=auth).json()["logo"] is False
    plain = bearer(get_token(api, make_client(scopes="identity.verify")))
    assert api.put("/v1/branding", headers=plain, json=BRAND).status_code == 403


def test_the_tenants_consent_text_is_shown_and_its_version_accepted(api, auth,
                                                                    container) -> None:
    tenant = container.tenants.get("demo").id
    container.consents.publish(tenant, "en", "acme-3", "Acme checks your ID.\nSecond part.")
    _sid, _path, page = opened(api, auth)
    assert "<p>Acme checks your ID.</p><p>Second part.</p>" in page.text
    assert 'name="version" value="acme-3"' in page.text
    r = api.post("/verify/s/consent", data={"csrf_token": csrf_of(page.text), "agree": "yes",
                                            "version": "acme-3"}, follow_redirects=False)
    assert r.status_code == 303


def test_withdrawal_from_the_page_asks_then_cancels_and_erases(api, auth, container) -> None:
    sid, _path, page = opened(api, auth, reference="user-w")
    consent(api, page.text)
    doc = api.get("/verify/s")
    assert 'href="/verify/s/withdraw"' in doc.text
    question = api.get("/verify/s/withdraw")
    assert question.status_code == 200 and "Withdraw your consent?" in question.text
    # Without the confirmation nothing happens.
    again = api.post("/verify/s/withdraw", data={"csrf_token": csrf_of(doc.text)})
    assert "Withdraw your consent?" in again.text
    assert api.get(f"/v1/sessions/{sid}", headers=auth).json()["status"] == "in_progress"
    assert api.post("/verify/s/withdraw", data={"csrf_token": "bad", "confirm": "yes"}
                    ).status_code == 403
    api.post("/verify/s/documents", data={"csrf_token": csrf_of(doc.text),
                                          "document_type": "passport"},
             files={"front": ("f.jpg", jpeg(), "image/jpeg")})
    done = api.post("/verify/s/withdraw", data={"csrf_token": csrf_of(doc.text),
                                                "confirm": "yes"})
    assert done.status_code == 200 and "Consent withdrawn" in done.text
    assert "user-w" not in done.text
    (event,) = container.audit.list(action="privacy.consent_withdrawn")
    assert event.actor_type == "end_user" and event.details["cancelled"] == 1
    r = api.get(f"/v1/sessions/{sid}", headers=auth)
    assert r.status_code == 404 or r.json()["status"] == "cancelled"
