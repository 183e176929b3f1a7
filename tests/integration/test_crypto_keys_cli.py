"""`idproof keys rotate|status|retire` and `db upgrade`: a rotation killed with SIGKILL resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from idproof.bootstrap import prepare
from idproof.cli.main import app
from idproof.config import Settings
from idproof.crypto.keystore import KeyStore

runner = CliRunner()
N = 60


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDPROOF_")}
    env["IDPROOF_DATA_DIR"] = str(data)
    return env


def _cli(data: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "idproof.cli.main", *args], env=_env(data),
                          capture_output=True, text=True, timeout=timeout, check=False)


def _seed(data: Path) -> tuple[str, dict[str, bytes]]:
    c = prepare(Settings(data_dir=data))
    try:
        t = c.tenants.ensure("demo").id
        out = {}
        for i in range(N):
            key = c.protection.subject_key(t, f"sub_{i}")
            out[key] = c.protection.encrypt(t, "people", "name", key, key, f"person {i}")
        c.protection.shred(next(iter(out)))
        return t, out
    finally:
        c.close()


def _check_readable(data: Path, tenant: str, blobs: dict[str, bytes]) -> None:
    c = prepare(Settings(data_dir=data))  # a fresh process's view: empty DEK cache
    try:
        erased = next(iter(blobs))
        for key, blob in blobs.items():
            if key != erased:
                assert c.protection.decrypt(tenant, "people", "name", key, key, blob) == \
                    b"person " + str(list(blobs).index(key)).encode()
    finally:
        c.close()


def _versions(data: Path) -> dict[int, int]:
    store = KeyStore(f"sqlite:///{data / 'keystore.db'}")
    try:
        return {c.kek_version: c.live for c in store.counts() if c.live}
    finally:
        store.dispose()


@pytest.mark.slow
def test_rotate_killed_mid_way_then_resumed(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IDPROOF_DATABASE_URL", "IDPROOF_KEY_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    tenant, blobs = _seed(data)
    proc = subprocess.Popen(
        [sys.executable, "-m", "idproof.cli.main", "keys", "rotate", "--batch-size", "3",
         "--throttle", "0.2"], env=_env(data), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            moved = _versions(data).get(2, 0)
            if moved >= 6:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.kill()  # SIGKILL: no cleanup, no finally blocks
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    counts = _versions(data)
    assert 0 < counts.get(2, 0) < N - 1 and counts.get(1, 0) > 0, counts
    _check_readable(data, tenant, blobs)

    status = json.loads(_cli(data, "keys", "status", "--json").stdout)
    assert status["current_version"] == 2 and status["rotation_pending"] == counts[1]

    done = _cli(data, "keys", "rotate", "--batch-size", "7")
    assert done.returncode == 0, done.stderr
    assert "finished the interrupted rotation to KEK version 2" in done.stdout
    assert _versions(data) == {2: N - 1}
    _check_readable(data, tenant, blobs)

    status = json.loads(_cli(data, "keys", "status", "--json").stdout)
    assert status["current_version"] == 2 and status["rotation_pending"] == 0
    assert status["live_keys"] == N - 1 and status["shredded_keys"] == 1
    assert status["awaiting_retirement"] == 1


def test_keys_status_rotate_and_retire(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("IDPROOF_DATA_DIR", str(data))
    monkeypatch.delenv("IDPROOF_DATABASE_URL", raising=False)
    monkeypatch.delenv("IDPROOF_KEY_DATABASE_URL", raising=False)
    c = prepare(Settings(data_dir=data))
    try:
        t = c.tenants.ensure("demo").id
        keys = [c.protection.subject_key(t, f"s{i}") for i in range(3)]
        c.protection.shred(keys[0])
    finally:
        c.close()

    res = runner.invoke(app, ["keys", "status"])
    assert res.exit_code == 0, res.output
    assert "KEK version" in res.output and "current" in res.output
    assert "data keys: 2 live, 1 erased" in res.output
    assert "erased keys awaiting KEK retirement: 1" in res.output

    res = runner.invoke(app, ["keys", "retire", "1"])
    assert res.exit_code == 2 and "current" in res.output

    res = runner.invoke(app, ["keys", "rotate", "--batch-size", "1"])
    assert res.exit_code == 0, res.output
    assert "rotated to KEK version 2; 2 data keys re-wrapped" in res.output

    res = runner.invoke(app, ["keys", "retire", "2"])
    assert res.exit_code == 2 and "refused" in res.output
    res = runner.invoke(app, ["keys", "retire", "1"])
    assert res.exit_code == 0, res.output
    status = json.loads(runner.invoke(app, ["keys", "status", "--json"]).stdout)
    assert [(v["version"], v["retired"], v["live_keys"], v["shredded_keys"])
            for v in status["versions"]] == [(1, True, 0, 1), (2, False, 2, 0)]
    assert status["awaiting_retirement"] == 0  # the erasure is now final for backups too

    res = runner.invoke(app, ["keys", "rotate-signing"])
    assert res.exit_code == 0 and "new signing key" in res.output


def test_db_upgrade_creates_the_key_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    data = tmp_path / "fresh"
    monkeypatch.setenv("IDPROOF_DATA_DIR", str(data))
    monkeypatch.delenv("IDPROOF_DATABASE_URL", raising=False)
    monkeypatch.delenv("IDPROOF_KEY_DATABASE_URL", raising=False)
    res = runner.invoke(app, ["db", "upgrade"])
    assert res.exit_code == 0, res.output
    store = KeyStore(f"sqlite:///{data / 'keystore.db'}")
    try:
        assert store.schema_version() == 1
    finally:
        store.dispose()
    assert (data / "keystore.db").stat().st_mode & 0o077 == 0
