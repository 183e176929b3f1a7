"""Edge headers: HSTS behind a TLS-terminating proxy, X-Frame-Options consistent with the CSP."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from idproof.bootstrap import build_container
from idproof.config import Settings
from idproof.web.app import create_app
from tests.conftest import TEST_SECRET
from tests.helpers import bearer, get_token

PROXY = ("10.1.2.3", 40000)


def _app(tmp_path, db_url, clock, **kw):  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url, secret_key=TEST_SECRET,
                        **kw)
    container = build_container(settings, clock)
    container.keys.ensure_key()
    container.tenants.ensure("demo")
    return container, create_app(container)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_hsts_behind_a_trusted_tls_proxy(tmp_path, db_url, clock) -> None:
    container, app = _app(tmp_path, db_url, clock, public_url="https://id.example",
                          security={"trusted_proxies": ["10.0.0.0/8"]})
    with TestClient(app, base_url="http://id.example", client=PROXY) as proxy:
        r = proxy.get("/healthz", headers={"x-forwarded-proto": "https",
                                           "x-forwarded-for": "198.51.100.9"})
        assert r.headers["strict-transport-security"].startswith("max-age=")
        # the proxy says the client came over plain http: no HSTS
        r = proxy.get("/healthz", headers={"x-forwarded-proto": "http"})
        assert "strict-transport-security" not in r.headers
    # the same header from a peer that is not a trusted proxy proves nothing
    with TestClient(app, base_url="http://id.example", client=("198.51.100.9", 1)) as direct:
        r = direct.get("/healthz", headers={"x-forwarded-proto": "https"})
        assert "strict-transport-security" not in r.headers
    container.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_hsts_for_a_plain_http_public_url(tmp_path, db_url, clock) -> None:
    container, app = _app(tmp_path, db_url, clock, public_url="http://id.example",
                          security={"trusted_proxies": ["10.0.0.0/8"]})
    with TestClient(app, base_url="http://id.example", client=PROXY) as proxy:
        r = proxy.get("/healthz", headers={"x-forwarded-proto": "https"})
        assert "strict-transport-security" not in r.headers
    container.close()


def test_no_x_frame_options_where_frame_ancestors_allows_an_origin(api, make_client) -> None:
    origin = "https://app.example"
    token = get_token(api, make_client(allowed_origins=[origin]))
    url = api.post("/v1/sessions", json={"reference": "u-1", "workflow": "document_only"},
                   headers=bearer(token)).json()["url"]
    r = api.get(url.removeprefix("http://testserver"))
    assert r.status_code == 200
    assert f"frame-ancestors {origin}" in r.headers["content-security-policy"]
    # DENY would contradict the CSP (and wins in browsers that only know the old header)
    assert "x-frame-options" not in r.headers
    # everything else still refuses framing both ways
    h = api.get("/healthz").headers
    assert h["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in h["content-security-policy"]
