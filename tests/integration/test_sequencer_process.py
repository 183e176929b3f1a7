"""`idproof serve` runs the audit sequencer in a process of its own: killed, it is restarted;
its serve process killed, it goes too; the serve process itself never integrates."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.serve_support import alive, children, free_port, kill_hard, until, wait_ready

pytestmark = pytest.mark.slow

EXE = Path(sys.executable).parent / "idproof"






def _sequencer_children(pid: int) -> list[int]:
    return [child for child, cmdline in children(pid).items()
            if b"audit" in cmdline and b"sequencer" in cmdline]


def _elected(log_path: Path) -> set[int]:
    """The pids that logged winning the sequencer election."""
    return {json.loads(line)["pid"] for line in log_path.read_text().splitlines()
            if "audit_sequencer_elected" in line}




def _counts(db: Path) -> tuple[int, int]:
    """(pending events, events in the tree)."""
    with sqlite3.connect(db) as conn:
        pending = conn.execute("SELECT count(*) FROM audit_pending").fetchone()[0]
        integrated = conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
    return int(pending), int(integrated)


def test_sequencer_process_restarted_and_bound_to_serve(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDPROOF_")}
    env.update({"IDPROOF_DATA_DIR": str(data), "IDPROOF_PUBLIC_URL": base,
                "IDPROOF_AUDIT__SEQUENCER": "process"})
    created = json.loads(subprocess.run(
        [str(EXE), "clients", "create", "--tenant", "demo", "--scopes", "identity.verify",
         "--json"], env=env, capture_output=True, text=True, check=True).stdout)
    auth = (created["client_id"], created["client_secret"])
    db = data / "idproof.db"
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log_file:
        serve = subprocess.Popen([str(EXE), "serve", "--port", str(port), "--no-jobs"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=log_file)
    try:
        wait_ready(base, serve)
        first = until("the sequencer process", lambda: _sequencer_children(serve.pid))
        assert isinstance(first, list) and len(first) == 1

        def grant_integrated() -> None:
            _, before = _counts(db)
            r = httpx.post(f"{base}/oauth/token", data={"grant_type": "client_credentials"},
                           auth=auth)
            assert r.status_code == 200
            until("the grant's event in the tree",
                   lambda: _counts(db)[0] == 0 and _counts(db)[1] > before)

        grant_integrated()
        os.kill(first[0], signal.SIGKILL)
        second = until("a new sequencer process",
                        lambda: [p for p in _sequencer_children(serve.pid) if p != first[0]])
        assert isinstance(second, list) and len(second) == 1
        grant_integrated()  # queued while none ran, or after: integrated by the new one

        # Only the child processes were elected: serve itself only queues.
        elected = _elected(log_path)
        assert elected and serve.pid not in elected, elected
        assert elected <= {first[0], second[0]}

        serve.kill()  # -9: no finally runs; the child notices its parent is gone
        serve.wait(10)
        until("the sequencer process to exit", lambda: not alive(second[0]), timeout=20)
    finally:
        kill_hard(serve)
    verified = subprocess.run([str(EXE), "audit", "verify"], env=env, capture_output=True,
                              text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert _counts(db)[0] == 0


def test_serve_stops_its_sequencer_process(tmp_path: Path) -> None:
    """SIGTERM to serve: its clean-up runs (the job consumer, then the sequencer process,
    stopped and waited for) before serve ends by that signal: no orphan, nothing left."""
    data = tmp_path / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDPROOF_")}
    env.update({"IDPROOF_DATA_DIR": str(data), "IDPROOF_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "IDPROOF_LOGGING__JSON_LOGS": "true"})
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        serve = subprocess.Popen([str(EXE), "serve", "--port", str(port)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=log)
    try:
        child = until("the sequencer process (the default mode)",
                       lambda: _sequencer_children(serve.pid))
        assert isinstance(child, list)
        wait_ready(f"http://127.0.0.1:{port}", serve)
        serve.send_signal(signal.SIGTERM)
        # Ended by the signal, as uvicorn means it to (a supervisor sees a SIGTERM death) ...
        assert serve.wait(60) == -signal.SIGTERM
        # ... but only once the child had stopped: serve waited for it.
        assert not alive(child[0])
        stopped = [json.loads(line) for line in log_path.read_text().splitlines()
                   if "serve_stopped" in line]
        assert [e.get("signal") for e in stopped] == ["SIGTERM"], log_path.read_text()[-2000:]
    finally:
        kill_hard(serve)


def test_workers_only_queue_beside_the_sequencer_process(tmp_path: Path) -> None:
    """`--workers 2`: every grant, whichever worker answered it, is integrated by the one
    sequencer process; neither worker nor the supervisor is ever elected."""
    data = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDPROOF_")}
    env.update({"IDPROOF_DATA_DIR": str(data), "IDPROOF_PUBLIC_URL": base})
    created = json.loads(subprocess.run(
        [str(EXE), "clients", "create", "--tenant", "demo", "--scopes", "identity.verify",
         "--json"], env=env, capture_output=True, text=True, check=True).stdout)
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log_file:
        serve = subprocess.Popen([str(EXE), "serve", "--port", str(port), "--workers", "2",
                                  "--no-jobs"], env=env, stdout=subprocess.DEVNULL,
                                 stderr=log_file)
    try:
        wait_ready(base, serve)
        child = until("the sequencer process", lambda: _sequencer_children(serve.pid))
        assert isinstance(child, list) and len(child) == 1
        _, before = _counts(data / "idproof.db")
        with httpx.Client(base_url=base) as http:  # new connections: both workers answer
            for _ in range(20):
                r = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                              auth=(created["client_id"], created["client_secret"]),
                              headers={"Connection": "close"})
                assert r.status_code == 200
        until("every grant in the tree",
               lambda: _counts(data / "idproof.db") == (0, before + 20))
        elected = _elected(log_path)
        assert elected == {child[0]}, elected
        serve.terminate()
        serve.wait(60)
        until("the sequencer process to exit", lambda: not alive(child[0]), timeout=20)
    finally:
        kill_hard(serve)
