"""Console branding settings: the hosted package's BrandingService behind a versioned form,
contrast checked, audited as the operator's, a stale form refused, roles checked."""

from __future__ import annotations

import io
import re

from PIL import Image
from starlette.testclient import TestClient

from idproof.bootstrap import Container
from idproof.web.app import create_app
from tests.console_helpers import csrf, enroll_totp

PATH = "/console/settings/branding"


def operator(container: Container, clock, role: str) -> TestClient:  # type: ignore[no-untyped-def]
    issued = container.operators.create(f"{role}@example.com", role,
                                        None if role == "owner" else ["demo"])
    tc = TestClient(create_app(container), client=("127.0.0.1", 50000),
                    raise_server_exceptions=False)
    enroll_totp(tc, issued.enrollment_url, clock)
    return tc


def _version(html: str) -> str:
    m = re.search(r'name="version" value="([^"]*)"', html)
    assert m, html
    return m.group(1)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (300, 100), (138, 21, 56, 255)).save(buf, format="PNG")
    return buf.getvalue()


def test_branding_saved_checked_and_audited(container, clock) -> None:
    admin = operator(container, clock, "admin")
    assert 'href="/console/settings/branding?tenant=demo"' in admin.get(
        "/console/settings").text
    r = admin.get(PATH)
    assert r.status_code == 200 and "No logo yet" in r.text
    form = {"csrf_token": csrf(r.text), "version": _version(r.text),
            "display_name": "Acme <b>Bank</b>", "accent_color": "#8a1538",
            "background_color": "", "privacy_url": "https://acme.example/privacy",
            "support_contact": "help@acme.example"}
    r = admin.post(PATH, data=form)
    assert r.status_code == 200 and "Branding saved" in r.text, r.text
    assert "Acme &lt;b&gt;Bank&lt;/b&gt;" in r.text and "<b>Bank" not in r.text
    tenant_id = container.tenants.get("demo").id
    brand = container.hosted.branding.get(tenant_id)
    assert brand is not None and brand.accent_color == "#8a1538"
    assert brand.background_color is None and brand.support_contact == "help@acme.example"
    # the hosted pages use it: the public view the hosted package serves
    assert brand.public()["display_name"] == "Acme <b>Bank</b>"
    # the logo, through the same service (checked and re-encoded there)
    r = admin.post(PATH + "/logo", data={"csrf_token": csrf(r.text)},
                   files={"logo": ("logo.png", _png(), "image/png")})
    assert r.status_code == 200 and "Logo saved" in r.text, r.text
    assert container.hosted.branding.logo(tenant_id) is not None
    events = [e for e in container.audit.list() if e.action.startswith("hosted.branding")]
    assert [e.action for e in events] == ["hosted.branding_updated",
                                          "hosted.branding_logo_updated"]
    assert {e.actor_type for e in events} == {"operator"}
    # the form read before the logo changed is stale now: 409, nothing overwritten
    r = admin.post(PATH, data={**form, "csrf_token": csrf(r.text), "display_name": "Other"})
    assert r.status_code == 409 and "Someone changed the branding" in r.text
    assert container.hosted.branding.get(tenant_id).display_name == "Acme <b>Bank</b>"


def test_branding_bad_input_changes_nothing(container, clock) -> None:
    admin = operator(container, clock, "admin")
    page = admin.get(PATH).text
    base = {"csrf_token": csrf(page), "version": _version(page), "display_name": "Acme"}
    for bad, says in [({"accent_color": "#ffff00"}, "contrast"),  # white text on yellow
                      ({"background_color": "#000000"}, "contrast"),
                      ({"accent_color": "red"}, "accent_color"),
                      ({"privacy_url": "http://acme.example/p"}, "privacy_url"),
                      ({"support_contact": "javascript:alert(1)"}, "support_contact"),
                      ({"display_name": ""}, "display_name"),
                      ({"admin": "1"}, "admin")]:
        r = admin.post(PATH, data={**base, **bad})
        assert r.status_code == 422 and says in r.text and 'role="alert"' in r.text, (bad,
                                                                                      r.text)
    r = admin.post(PATH + "/logo", data={"csrf_token": base["csrf_token"]},
                   files={"logo": ("x.svg", b"<svg onload='x'/>", "image/svg+xml")})
    assert r.status_code == 415 and "(not SVG)" in r.text
    assert admin.post(PATH, data={k: v for k, v in base.items()
                                  if k != "csrf_token"}).status_code == 403
    assert container.hosted.branding.get(container.tenants.get("demo").id) is None
    assert [e for e in container.audit.list() if e.action.startswith("hosted.branding")] == []


def test_branding_needs_the_settings_role(container, clock) -> None:
    for role in ("reviewer", "analyst", "developer", "auditor"):
        tc = operator(container, clock, role)
        assert tc.get(PATH).status_code == 403, role
