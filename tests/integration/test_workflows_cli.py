"""`idproof workflows list|export|import|publish`: a template exported as YAML, imported as a
tenant workflow, published; JSON round trip; invalid documents store nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from idproof.cli.main import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IDPROOF_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("IDPROOF_DATABASE_URL", raising=False)
    for name in ("acme", "other"):
        assert runner.invoke(app, ["tenants", "create", name]).exit_code == 0
    return tmp_path


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def mine(listed: list[dict], wid: str) -> dict:  # type: ignore[type-arg]
    return next(w for w in listed if w["id"] == wid)


def test_export_import_publish_round_trip(env: Path) -> None:
    template = env / "kyc.yaml"
    run("workflows", "export", "kyc_standard", "--tenant", "acme", "--format", "yaml",
        "-o", str(template))
    document = yaml.safe_load(template.read_text())
    assert document["flow"]["decision"], "the template carries its decision rules"
    document["title"] = "Our KYC"
    template.write_text(yaml.safe_dump(document))

    assert "version 1: draft" in run("workflows", "import", str(template), "--tenant", "acme",
                                      "--id", "our_kyc")
    assert "version 1: published" in run("workflows", "publish", "our_kyc", "--tenant",
                                         "acme", "--version", "1")
    assert "version 2: published" in run("workflows", "import", str(template), "--tenant",
                                         "acme", "--id", "our_kyc", "--publish")
    listed = json.loads(run("workflows", "list", "--tenant", "acme", "--json"))
    ours = mine(listed, "our_kyc")
    assert ours["title"] == "Our KYC" and ours["published_version"] == 2
    assert [v["status"] for v in ours["versions"]] == ["published", "published"]
    assert mine(listed, "kyc_standard")["template"] is True

    # JSON export of the tenant's version reads back as the same definition
    exported = json.loads(run("workflows", "export", "our_kyc", "--tenant", "acme",
                              "--version", "2"))
    assert exported["title"] == "Our KYC" and exported["flow"] == document["flow"]
    # another tenant does not see it
    assert "our_kyc" not in run("workflows", "list", "--tenant", "other")


def test_invalid_documents_store_nothing(env: Path) -> None:
    bad_cel = env / "bad.json"
    document = json.loads(run("workflows", "export", "document_only", "--tenant", "acme"))
    document["flow"]["decision"][0]["when"] = "document.valid &&"  # does not parse
    bad_cel.write_text(json.dumps(document))
    result = runner.invoke(app, ["workflows", "import", str(bad_cel), "--tenant", "acme",
                                 "--id", "broken"])
    assert result.exit_code == 2 and "cel_syntax" in result.output

    not_yaml = env / "x.yaml"
    not_yaml.write_text("flow: [unclosed")
    result = runner.invoke(app, ["workflows", "import", str(not_yaml), "--tenant", "acme",
                                 "--id", "broken"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["workflows", "import", str(bad_cel), "--tenant", "nobody",
                                 "--id", "broken"])
    assert result.exit_code == 2
    reserved = runner.invoke(app, ["workflows", "import", str(bad_cel), "--tenant", "acme",
                                   "--id", "kyc_standard"])
    assert reserved.exit_code == 2
    listed = json.loads(run("workflows", "list", "--tenant", "acme", "--json"))
    assert all(w["template"] for w in listed)  # nothing was stored
