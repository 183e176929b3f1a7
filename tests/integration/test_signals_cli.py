"""`idproof signals import|datasets|lookup`: the operator's files become the active datasets."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from idproof.cli.main import app

runner = CliRunner()
DATA = Path(__file__).parents[1] / "data" / "signals"


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


def test_import_list_and_lookup(env: Path, tmp_path: Path) -> None:
    assert "5 ranges" in run("signals", "import", "geoip", str(DATA / "geoip.csv"))
    assert "2 ranges" in run("signals", "import", "tor", str(DATA / "exit-addresses"))
    run("signals", "import", "datacenter", str(DATA / "datacenters.txt"))
    listed = run("signals", "datasets")
    assert [line.split()[:2] for line in listed.splitlines()] == [
        ["datacenter", "2"], ["geoip", "5"], ["tor", "2"]]
    out = run("signals", "lookup", "203.0.113.7")
    assert "country=US" in out and "asn=64502" in out and "datacenter=True" in out
    assert "tor=True" in run("signals", "lookup", "198.51.100.77")
    # A malformed file: exit 2 with its code, the previous geoip dataset still answers.
    bad = tmp_path / "bad.csv"
    bad.write_text("network,country\n192.0.2.0/24,FR\nnot-a-network,DE\n")
    res = runner.invoke(app, ["signals", "import", "geoip", str(bad)])
    assert res.exit_code == 2 and "network_invalid" in res.output
    assert "Traceback" not in res.output
    assert "country=FR" in run("signals", "lookup", "192.0.2.1")
    res = runner.invoke(app, ["signals", "import", "asn", str(bad)])
    assert res.exit_code == 2 and "dataset_kind_unknown" in res.output
    res = runner.invoke(app, ["signals", "lookup", "nope"])
    assert res.exit_code == 2 and "ip_invalid" in res.output
