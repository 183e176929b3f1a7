"""mTLS behind a TLS-terminating gateway: the certificate header is opt-in and is read only
from a trusted proxy; from anyone else it is ignored and audited."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from idproof.audit.models import AuditEventRow as AuditRow
from idproof.bootstrap import build_container
from idproof.config import Settings
from idproof.web.app import create_app
from tests.conftest import TEST_SECRET
from tests.mtls_certs import make_cert, pem

HEADER = "X-SSL-Client-Cert"
PROXY, OUTSIDER = ("10.1.2.3", 40000), ("198.51.100.9", 40000)
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _setup(tmp_path, db_url, clock, header: str | None = HEADER):  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url,
                        secret_key=TEST_SECRET, public_url="https://id.example",
                        security={"trusted_proxies": ["10.0.0.0/8"],
                                  "mtls": {"client_cert_header": header}})
    container = build_container(settings, clock)
    container.keys.ensure_key()
    container.tenants.ensure("demo")
    cid = container.clients.create("demo", "identity.read_status").client.id
    container.mtls.register(cid, tls_subject="CN=svc-a,O=Test")
    return container, create_app(container), cid


def _escaped(cert) -> str:  # type: ignore[no-untyped-def]
    return quote(pem(cert).decode(), safe="")  # as nginx's $ssl_client_escaped_cert


def _token(tc: TestClient, cid: str, cert_header: str | None):  # type: ignore[no-untyped-def]
    h = {HEADER: cert_header} if cert_header else {}
    return tc.post("/oauth/token", data={"grant_type": "client_credentials",
                                         "client_id": cid}, headers=h)


def test_trusted_gateway_header_authenticates_and_binds(tmp_path, db_url, clock) -> None:
    ca = make_cert("CA", ca=True)
    a, b = make_cert("svc-a", issuer=ca)[0], make_cert("svc-b", issuer=ca)[0]
    container, app, cid = _setup(tmp_path, db_url, clock)
    with TestClient(app, base_url="https://id.example", client=PROXY) as tc:
        r = _token(tc, cid, _escaped(a))
        assert r.status_code == 200, r.text
        auth = {"authorization": f"Bearer {r.json()['access_token']}"}
        assert tc.get("/v1/me", headers={**auth, HEADER: _escaped(a)}).status_code == 200
        refused = tc.get("/v1/me", headers={**auth, HEADER: _escaped(b)})
        assert refused.status_code == 401 and refused.json()["code"] == "invalid_token"
        assert tc.get("/v1/me", headers=auth).status_code == 401
        assert _token(tc, cid, _escaped(b)).status_code == 401
        # A malformed header is no certificate, never a 500.
        assert _token(tc, cid, "not%20a%20cert").status_code == 401
    container.close()


def test_header_from_an_untrusted_peer_is_ignored_and_audited(tmp_path, db_url,
                                                               clock) -> None:
    a = make_cert("svc-a", issuer=make_cert("CA", ca=True))[0]
    container, app, cid = _setup(tmp_path, db_url, clock)
    with TestClient(app, base_url="https://id.example", client=OUTSIDER) as tc:
        r = _token(tc, cid, _escaped(a))
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    with container.db.read() as s:
        actions = [e.action for e in s.scalars(select(AuditRow))]
    assert "security.cert_header_untrusted" in actions
    container.close()


def test_header_not_read_unless_configured(tmp_path, db_url, clock) -> None:
    a = make_cert("svc-a", issuer=make_cert("CA", ca=True))[0]
    container, app, cid = _setup(tmp_path, db_url, clock, header=None)
    with TestClient(app, base_url="https://id.example", client=PROXY) as tc:
        assert _token(tc, cid, _escaped(a)).status_code == 401
    container.close()


def test_expired_certificate_from_the_gateway_is_refused(tmp_path, db_url, clock) -> None:
    old = make_cert("svc-a", issuer=make_cert("CA", ca=True), expired=True)[0]
    container, app, cid = _setup(tmp_path, db_url, clock)
    with TestClient(app, base_url="https://id.example", client=PROXY) as tc:
        r = _token(tc, cid, _escaped(old))
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    container.close()
