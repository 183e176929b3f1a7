"""`idproof serve` as a real process: first run initialises everything and serves tokens."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_first_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDPROOF_")}
    env["IDPROOF_DATA_DIR"] = str(data)
    port = _free_port()
    exe = Path(sys.executable).parent / "idproof"
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("server did not start")
        created = json.loads(subprocess.run(
            [str(exe), "clients", "create", "--tenant", "demo", "--scopes", "identity.verify",
             "--json"], env=env, capture_output=True, text=True, check=True).stdout)
        r = httpx.post(f"{base}/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(created["client_id"], created["client_secret"]))
        assert r.status_code == 200
        me = httpx.get(f"{base}/v1/me",
                       headers={"authorization": f"Bearer {r.json()['access_token']}"})
        assert me.json()["tenant"] == "demo"
        assert httpx.get(f"{base}/readyz").json() == {"status": "ready"}
        # the data dir and everything in it, WAL included, is owner-only
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        names = {p.name for p in data.iterdir()}
        assert "idproof.db-wal" in names and "secret.key" in names
        for p in data.rglob("*"):
            want = 0o700 if p.is_dir() else 0o600
            assert stat.S_IMODE(p.stat().st_mode) == want, p.name
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "idproof clients create" in err  # the one-line hint on first run
    assert created["client_secret"] not in err
