"""The `idproof` CLI: tenants, clients, secret rotation, disabling, key rotation, data dir."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from joserfc.jwk import OKPKey
from typer.testing import CliRunner

from idproof.cli.main import app, parse_duration

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("IDPROOF_DATA_DIR", str(data))
    monkeypatch.delenv("IDPROOF_DATABASE_URL", raising=False)
    return data


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_tenants_and_clients(env: Path) -> None:
    run("tenants", "create", "acme", "--region", "us")
    out = run("tenants", "list")
    assert "acme" in out and "demo" in out
    res = runner.invoke(app, ["tenants", "create", "acme"])
    assert res.exit_code == 2 and "tenant_exists" in res.output
    res = runner.invoke(app, ["tenants", "create", "Bad Name!"])
    assert res.exit_code == 2

    created = json.loads(run("clients", "create", "--tenant", "acme", "--scopes",
                             "identity.verify identity.read_status", "--allowed-ip",
                             "10.0.0.0/8", "--origin", "https://App.example/", "--origin",
                             "http://127.0.0.1:8080", "--json"))
    assert set(created) == {"client_id", "client_secret", "tenant", "scopes", "allowed_origins"}
    assert created["allowed_origins"] == ["https://app.example", "http://127.0.0.1:8080"]
    assert created["tenant"] == "acme"
    assert created["scopes"] == ["identity.verify", "identity.read_status"]
    assert created["client_secret"].startswith("idpsk_")
    listing = run("clients", "list")
    assert created["client_id"] in listing and created["client_secret"] not in listing

    rotated = json.loads(run("clients", "rotate-secret", created["client_id"], "--grace", "1h",
                             "--json"))
    assert rotated["client_secret"] != created["client_secret"]
    run("clients", "disable", created["client_id"])
    assert "disabled" in run("clients", "list")

    res = runner.invoke(app, ["clients", "create", "--tenant", "acme", "--scopes", "root"])
    assert res.exit_code == 2 and "invalid_scope" in res.output
    res = runner.invoke(app, ["clients", "create", "--tenant", "acme", "--scopes",
                              "identity.verify", "--origin", "http://app.example"])
    assert res.exit_code == 2 and "invalid_origin" in res.output
    res = runner.invoke(app, ["clients", "create", "--tenant", "nope", "--scopes",
                              "identity.verify"])
    assert res.exit_code == 2
    res = runner.invoke(app, ["clients", "disable", "cli_missing"])
    assert res.exit_code == 2


def test_tenant_image_retention(env: Path) -> None:
    run("tenants", "create", "keepers")
    assert "0 s" in run("tenants", "list")
    out = run("tenants", "set-retention", "keepers", "--images-hours", "72")
    assert "259200 s" in out
    res = runner.invoke(app, ["tenants", "set-retention", "keepers", "--images-hours", "3000"])
    assert res.exit_code == 2 and "invalid_retention" in res.output
    res = runner.invoke(app, ["tenants", "set-retention", "nobody", "--images-hours", "1"])
    assert res.exit_code == 2 and "tenant_not_found" in res.output
    assert "259200 s" in run("tenants", "list")


def test_client_with_jwk(env: Path, tmp_path: Path) -> None:
    key = OKPKey.generate_key("Ed25519")
    pub = tmp_path / "pub.json"
    pub.write_text(json.dumps(key.as_dict(private=False)))
    created = json.loads(run("clients", "create", "--tenant", "demo", "--scopes",
                             "identity.verify", "--jwk", str(pub), "--json"))
    assert created["client_id"]
    priv = tmp_path / "priv.json"
    priv.write_text(json.dumps(key.as_dict(private=True)))
    res = runner.invoke(app, ["clients", "create", "--tenant", "demo", "--scopes",
                              "identity.verify", "--jwk", str(priv)])
    assert res.exit_code == 2 and "invalid_jwk" in res.output


def test_data_dir_is_private(env: Path) -> None:
    run("tenants", "list")
    run("keys", "rotate-signing")
    assert stat.S_IMODE(env.stat().st_mode) == 0o700
    files = list(env.iterdir())
    assert {f.name for f in files} >= {"idproof.db", "secret.key"}
    for f in env.rglob("*"):
        want = 0o700 if f.is_dir() else 0o600
        assert stat.S_IMODE(f.stat().st_mode) == want, f.name


def test_db_upgrade(env: Path) -> None:
    assert "up to date" in run("db", "upgrade")


def test_parse_duration() -> None:
    assert parse_duration("24h").total_seconds() == 86400
    assert parse_duration("15m").total_seconds() == 900
    import typer
    with pytest.raises(typer.BadParameter):
        parse_duration("soon")


def test_secret_from_file(env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    from idproof.config import load_settings

    secret_file = tmp_path / "secret"
    secret_file.write_text(base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("IDPROOF_SECRET_KEY_FILE", str(secret_file))
    s = load_settings()
    assert s.secret_key is not None
    assert s.secret_key.get_secret_value() == secret_file.read_text()
    assert "IDPROOF_SECRET_KEY" not in os.environ
