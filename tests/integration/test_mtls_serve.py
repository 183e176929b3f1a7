"""mTLS end to end (RFC 8705): a real `idproof serve --tls-cert --tls-key --client-ca`,
certificates made here, tokens bound to the certificate and refused on another one."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from tests.mtls_certs import make_cert, pem, write_pair

pytestmark = [pytest.mark.slow]
EXE = str(Path(sys.executable).parent / "idproof")
SCOPES = "identity.read_status"


@dataclass
class Tls:
    base: str
    ca: str
    env: dict[str, str]
    pairs: dict[str, tuple[str, str]]
    ders: dict[str, bytes]

    def client(self, who: str | None, **kw: object) -> httpx.Client:
        ctx = ssl.create_default_context(cafile=self.ca)
        if who is not None:
            ctx.load_cert_chain(*self.pairs[who])
        return httpx.Client(base_url=self.base, verify=ctx, timeout=10, **kw)  # type: ignore[arg-type]

    def cli(self, *args: str) -> dict[str, object]:
        out = subprocess.run([EXE, *args], env=self.env, capture_output=True, text=True,
                             check=True).stdout
        return json.loads(out)  # type: ignore[no-any-return]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tls]:
    d = tmp_path_factory.mktemp("mtls")
    ca = make_cert("Test CA", ca=True)
    other_ca = make_cert("Other CA", ca=True)
    server = make_cert("localhost", issuer=ca, server=True)
    certs = {"a": make_cert("svc-a", issuer=ca), "b": make_cert("svc-b", issuer=ca),
             "expired": make_cert("svc-a", issuer=ca, expired=True),
             "foreign": make_cert("svc-a", issuer=other_ca),
             "self": make_cert("svc-self"),
             "san": make_cert("anything", issuer=ca, san_dns="svc-san.example")}
    pairs = {k: write_pair(d, k, *v) for k, v in certs.items()}
    server_pair = write_pair(d, "server", *server)
    (d / "ca.pem").write_bytes(pem(ca[0]))
    # The client CA bundle also lists the self-signed client certificate (RFC 8705 §2.2).
    (d / "clients-ca.pem").write_bytes(pem(ca[0]) + pem(certs["self"][0]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDPROOF_")}
    env["IDPROOF_DATA_DIR"] = str(d / "data")
    port = _free_port()
    t = Tls(f"https://127.0.0.1:{port}", str(d / "ca.pem"), env, pairs,
            {k: v[0].public_bytes(Encoding.DER) for k, v in certs.items()})
    log = (d / "serve.log").open("a")
    proc = subprocess.Popen([EXE, "serve", "--port", str(port), "--no-jobs",
                             "--tls-cert", server_pair[0], "--tls-key", server_pair[1],
                             "--client-ca", str(d / "clients-ca.pem")],
                            env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        for _ in range(600):
            try:
                if t.client(None).get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("server did not start: " + (d / "serve.log").read_text()[-2000:])
        yield t
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _x5t(der: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, object]:
    seg = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))  # type: ignore[no-any-return]


def _token(t: Tls, who: str | None, client_id: str) -> httpx.Response:
    with t.client(who) as c:
        return c.post("/oauth/token", data={"grant_type": "client_credentials",
                                            "client_id": client_id})


def test_tls_client_auth_binds_the_token_and_refuses_another_certificate(tls: Tls) -> None:
    cid = str(tls.cli("clients", "create", "--tenant", "demo", "--scopes", SCOPES,
                      "--tls-subject", "CN=svc-a, O=Test", "--json")["client_id"])
    r = _token(tls, "a", cid)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert _claims(token)["cnf"] == {"x5t#S256": _x5t(tls.ders["a"])}
    auth = {"authorization": f"Bearer {token}"}
    with tls.client("a") as c:
        me = c.get("/v1/me", headers=auth)
        assert me.status_code == 200 and me.json()["client_id"] == cid
    for other in ("b", None):  # another certificate of the same CA; no certificate at all
        with tls.client(other) as c:
            r = c.get("/v1/me", headers=auth)
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "invalid_token"
    # Another certificate of the same CA does not authenticate as this client.
    r = _token(tls, "b", cid)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    # No certificate and no secret: no client authentication.
    assert _token(tls, None, cid).status_code == 401


def test_expired_and_foreign_certificates_fail_the_handshake(tls: Tls) -> None:
    for who in ("expired", "foreign"):
        with pytest.raises(httpx.TransportError):
            _token(tls, who, "cli_whatever")
    with tls.client("a") as c:  # the server is still there for everyone else
        assert c.get("/healthz").status_code == 200


def test_self_signed_and_san_registrations(tls: Tls, tmp_path: Path) -> None:
    cid = str(tls.cli("clients", "create", "--tenant", "demo", "--scopes", SCOPES,
                      "--tls-self-signed", tls.pairs["self"][0], "--json")["client_id"])
    r = _token(tls, "self", cid)
    assert r.status_code == 200, r.text
    assert _claims(r.json()["access_token"])["cnf"] == {"x5t#S256": _x5t(tls.ders["self"])}
    assert _token(tls, "a", cid).status_code == 401  # a CA-signed cert with another key
    san = str(tls.cli("clients", "create", "--tenant", "demo", "--scopes", SCOPES,
                      "--tls-subject", "san:svc-san.example", "--json")["client_id"])
    assert _token(tls, "san", san).status_code == 200
    assert _token(tls, "a", san).status_code == 401


def test_secret_clients_still_work_over_https_and_tokens_bind_to_a_presented_cert(
        tls: Tls) -> None:
    created = tls.cli("clients", "create", "--tenant", "demo", "--scopes", SCOPES, "--json")
    cid, secret = str(created["client_id"]), str(created["client_secret"])
    with tls.client(None) as c:
        r = c.post("/oauth/token", data={"grant_type": "client_credentials"},
                   auth=(cid, secret))
        assert r.status_code == 200 and "cnf" not in _claims(r.json()["access_token"])
        assert c.get("/v1/me", headers={
            "authorization": f"Bearer {r.json()['access_token']}"}).status_code == 200
    with tls.client("b") as c:  # a secret over mTLS: still bound to the certificate shown
        r = c.post("/oauth/token", data={"grant_type": "client_credentials"},
                   auth=(cid, secret))
        assert _claims(r.json()["access_token"])["cnf"] == {"x5t#S256": _x5t(tls.ders["b"])}


def test_metadata_and_tls_versions(tls: Tls) -> None:
    with tls.client(None) as c:
        meta = c.get("/.well-known/oauth-authorization-server").json()
    assert meta["tls_client_certificate_bound_access_tokens"] is True
    assert {"tls_client_auth", "self_signed_tls_client_auth"} <= set(
        meta["token_endpoint_auth_methods_supported"])
    old = ssl.create_default_context(cafile=tls.ca)
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(httpx.TransportError), httpx.Client(verify=old) as c:
        c.get(f"{tls.base}/healthz")
