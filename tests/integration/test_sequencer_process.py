"""`idproof serve` runs the audit sequencer in a process of its own: killed, it is restarted;
its serve process killed, it goes too; the serve process itself never integrates."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

EXE = Path(sys.executable).parent / "idproof"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until(what: str, check: Callable[[], object], timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _sequencer_children(pid: int) -> list[int]:
    found = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:  # gone (ENOENT, or ESRCH for a task just ended)
        return found
    for task in tasks:
        try:  # a thread may end between the listing and this read
            children = (task / "children").read_text().split()
        except OSError:  # gone (ENOENT, or ESRCH for a task just ended)
            continue
        for child in children:
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:  # gone (ENOENT, or ESRCH for a task just ended)
                continue
            if b"audit" in cmdline and b"sequencer" in cmdline:
                found.append(int(child))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait() is missing


def _wait_ready(base: str, serve: subprocess.Popen[bytes]) -> None:
    def ready() -> bool:
        if serve.poll() is not None:
            pytest.fail(f"serve exited with {serve.returncode}")
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False
    _until("the server", ready)


def _elected(log_path: Path) -> set[int]:
    """The pids that logged winning the sequencer election."""
    return {json.loads(line)["pid"] for line in log_path.read_text().splitlines()
            if "audit_sequencer_elected" in line}


def _kill(serve: subprocess.Popen[bytes]) -> None:
    if serve.poll() is None:
        serve.kill()
        serve.wait(10)


def _counts(db: Path) -> tuple[int, int]:
    """(pending events, events in the tree)."""
    with sqlite3.connect(db) as conn:
        pending = conn.execute("SELECT count(*) FROM audit_pending").fetchone()[0]
        integrated = conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
    return int(pending), int(integrated)


def test_sequencer_process_restarted_and_bound_to_serve(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = _free_port()
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
        _wait_ready(base, serve)
        first = _until("the sequencer process", lambda: _sequencer_children(serve.pid))
        assert isinstance(first, list) and len(first) == 1

        def grant_integrated() -> None:
            _, before = _counts(db)
            r = httpx.post(f"{base}/oauth/token", data={"grant_type": "client_credentials"},
                           auth=auth)
            assert r.status_code == 200
            _until("the grant's event in the tree",
                   lambda: _counts(db)[0] == 0 and _counts(db)[1] > before)

        grant_integrated()
        os.kill(first[0], signal.SIGKILL)
        second = _until("a new sequencer process",
                        lambda: [p for p in _sequencer_children(serve.pid) if p != first[0]])
        assert isinstance(second, list) and len(second) == 1
        grant_integrated()  # queued while none ran, or after: integrated by the new one

        # Only the child processes were elected: serve itself only queues.
        elected = _elected(log_path)
        assert elected and serve.pid not in elected, elected
        assert elected <= {first[0], second[0]}

        serve.kill()  # -9: no finally runs; the child notices its parent is gone
        serve.wait(10)
        _until("the sequencer process to exit", lambda: not _alive(second[0]), timeout=20)
    finally:
        _kill(serve)
    verified = subprocess.run([str(EXE), "audit", "verify"], env=env, capture_output=True,
                              text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert _counts(db)[0] == 0


def test_serve_stops_its_sequencer_process(tmp_path: Path) -> None:
    """SIGTERM to serve: its clean-up runs (the job consumer, then the sequencer process,
    stopped and waited for) before serve ends by that signal: no orphan, nothing left."""
    data = tmp_path / "data"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDPROOF_")}
    env.update({"IDPROOF_DATA_DIR": str(data), "IDPROOF_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "IDPROOF_LOGGING__JSON_LOGS": "true"})
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        serve = subprocess.Popen([str(EXE), "serve", "--port", str(port)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=log)
    try:
        child = _until("the sequencer process (the default mode)",
                       lambda: _sequencer_children(serve.pid))
        assert isinstance(child, list)
        _wait_ready(f"http://127.0.0.1:{port}", serve)
        serve.send_signal(signal.SIGTERM)
        # Ended by the signal, as uvicorn means it to (a supervisor sees a SIGTERM death) ...
        assert serve.wait(60) == -signal.SIGTERM
        # ... but only once the child had stopped: serve waited for it.
        assert not _alive(child[0])
        stopped = [json.loads(line) for line in log_path.read_text().splitlines()
                   if "serve_stopped" in line]
        assert [e.get("signal") for e in stopped] == ["SIGTERM"], log_path.read_text()[-2000:]
    finally:
        _kill(serve)


def test_workers_only_queue_beside_the_sequencer_process(tmp_path: Path) -> None:
    """`--workers 2`: every grant, whichever worker answered it, is integrated by the one
    sequencer process; neither worker nor the supervisor is ever elected."""
    data = tmp_path / "data"
    port = _free_port()
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
        _wait_ready(base, serve)
        child = _until("the sequencer process", lambda: _sequencer_children(serve.pid))
        assert isinstance(child, list) and len(child) == 1
        _, before = _counts(data / "idproof.db")
        with httpx.Client(base_url=base) as http:  # new connections: both workers answer
            for _ in range(20):
                r = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                              auth=(created["client_id"], created["client_secret"]),
                              headers={"Connection": "close"})
                assert r.status_code == 200
        _until("every grant in the tree",
               lambda: _counts(data / "idproof.db") == (0, before + 20))
        elected = _elected(log_path)
        assert elected == {child[0]}, elected
        serve.terminate()
        serve.wait(60)
        _until("the sequencer process to exit", lambda: not _alive(child[0]), timeout=20)
    finally:
        _kill(serve)
