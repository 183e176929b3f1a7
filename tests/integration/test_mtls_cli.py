"""`idproof clients create --tls-subject/--tls-self-signed` and `idproof clients tls`: what is
registered, and bad input refused with exit 2 and nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from idproof.auth.mtls import ClientCertificate
from idproof.bootstrap import prepare
from idproof.cli.main import app
from idproof.config import load_settings
from tests.mtls_certs import make_cert, pem

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IDPROOF_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("IDPROOF_DATABASE_URL", raising=False)
    return tmp_path


def _create(*extra: str) -> dict[str, str]:
    res = runner.invoke(app, ["clients", "create", "--tenant", "demo", "--scopes",
                              "identity.read_status", "--json", *extra])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def test_registrations(env: Path) -> None:
    cid = _create("--tls-subject", "CN=billing , O=Acme")["client_id"]
    cert_file = env / "self.pem"
    cert = make_cert("svc-self")[0]
    cert_file.write_bytes(pem(cert))
    res = runner.invoke(app, ["clients", "tls", cid, "--tls-self-signed", str(cert_file)])
    assert res.exit_code == 0, res.output
    container = prepare(load_settings())
    reg = container.mtls.get(cid)
    assert reg is not None and reg.method == "self_signed_tls_client_auth"
    assert reg.jwk_thumbprint == ClientCertificate.from_pem(pem(cert)).jwk_thumbprint()
    other = _create("--tls-subject", "san:billing.acme.example")["client_id"]
    reg = container.mtls.get(other)
    assert reg is not None and reg.tls_subject == "san:billing.acme.example"
    container.close()


def test_bad_input(env: Path) -> None:
    (env / "junk.pem").write_text("not a certificate")
    cases = [["clients", "create", "--tenant", "demo", "--scopes", "identity.read_status",
              "--tls-subject", "not a dn"],
             ["clients", "create", "--tenant", "demo", "--scopes", "identity.read_status",
              "--tls-self-signed", str(env / "junk.pem")],
             ["clients", "create", "--tenant", "demo", "--scopes", "identity.read_status",
              "--tls-subject", "CN=a", "--tls-self-signed", str(env / "junk.pem")],
             ["clients", "tls", "cli_nope", "--tls-subject", "CN=a"],
             ["clients", "tls", "cli_nope"]]
    for args in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert "Traceback" not in res.output
    container = prepare(load_settings())
    assert container.clients.list() == []  # nothing was created by the refused commands
    container.close()
