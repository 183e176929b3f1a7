"""`idproof serve --workers N`: a listening socket per worker (SO_REUSEPORT), connections spread
over them, a dead worker replaced, SIGHUP replacing each, SIGTERM stopping all, and the
workers gone with a supervisor killed with -9."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.serve_support import alive, children, free_port, kill_hard, until, wait_ready

pytestmark = pytest.mark.slow

EXE = Path(sys.executable).parent / "idproof"
LISTEN, ESTABLISHED = "0A", "01"


def _env(data: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDPROOF_")}
    env.update({"IDPROOF_DATA_DIR": str(data), "IDPROOF_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    return env


def _workers(serve: int) -> list[int]:
    return sorted(pid for pid, cmdline in children(serve).items()
                  if b"--multiprocessing-fork" in cmdline)


def _sockets(port: int, state: str) -> set[int]:
    """Inodes of the TCP sockets on local `port` in `state`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == state:
                found.add(int(cols[9]))
    return found


def _owned(pid: int, inodes: set[int]) -> set[int]:
    """Which of `inodes` are open in process `pid`."""
    owned = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return owned
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and int(target[8:-1]) in inodes:
            owned.add(int(target[8:-1]))
    return owned


def _listening(serve: int, port: int) -> dict[int, set[int]] | None:
    """Worker pid → its listening sockets on `port`, once every worker has one."""
    listening = _sockets(port, LISTEN)
    mine = {pid: _owned(pid, listening) for pid in _workers(serve)}
    return mine if len(mine) == 2 and all(mine.values()) else None


@contextmanager
def _serving(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    data, port = tmp_path / "data", free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log_file:
        serve = subprocess.Popen([str(EXE), "serve", "--port", str(port), "--workers", "2",
                                  "--no-jobs"], env=_env(data, port),
                                 stdout=subprocess.DEVNULL, stderr=log_file)
    try:
        wait_ready(f"http://127.0.0.1:{port}", serve)
        yield serve, port, log_path
    finally:
        kill_hard(serve)


def test_workers_listen_apart_share_connections_and_are_replaced(tmp_path: Path) -> None:
    with _serving(tmp_path) as (serve, port, log_path):
        base = f"http://127.0.0.1:{port}"
        first = until("two workers listening", lambda: _listening(serve.pid, port))
        assert isinstance(first, dict)
        a, b = sorted(first)
        assert not first[a] & first[b]  # a socket each, not one shared

        # 32 keep-alive connections opened at once, as wrk opens them: both workers hold some.
        conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        try:
            for conn in conns:
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            for conn in conns:
                assert conn.recv(4096).startswith(b"HTTP/1.1 200")
            held = {pid: len(_owned(pid, _sockets(port, ESTABLISHED))) for pid in (a, b)}
            assert sum(held.values()) == 32 and min(held.values()) > 0, held
        finally:
            for conn in conns:
                conn.close()

        os.kill(a, signal.SIGKILL)  # a crashed worker is replaced; the other serves meanwhile
        after = until("a replacement", lambda: (w := _listening(serve.pid, port))
                      and a not in w and w)
        assert isinstance(after, dict) and b in after
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert "serve_worker_exited" in log_path.read_text()

        serve.send_signal(signal.SIGHUP)  # each replaced, one at a time
        replaced = until("both replaced", lambda: (w := _listening(serve.pid, port))
                         and not set(w) & set(after) and w, timeout=120)
        assert isinstance(replaced, dict)
        assert httpx.get(f"{base}/healthz").status_code == 200

        serve.send_signal(signal.SIGTERM)
        assert serve.wait(60) == 0
        assert not any(alive(pid) for pid in replaced), "a worker outlived serve"
        assert not _sockets(port, LISTEN)


def test_workers_end_with_a_supervisor_killed(tmp_path: Path) -> None:
    with _serving(tmp_path) as (serve, port, _log):
        workers = until("two workers listening", lambda: _listening(serve.pid, port))
        assert isinstance(workers, dict)
        serve.kill()
        serve.wait(10)
        until("the orphaned workers to stop", lambda: not any(alive(p) for p in workers),
              timeout=30)


def test_a_taken_port_or_a_worker_that_cannot_start_ends_serve(tmp_path: Path) -> None:
    port = free_port()
    env = _env(tmp_path / "data", port)
    # Another server on the port, even one that set SO_REUSEPORT, is not silently joined.
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", port))
        other.listen()
        run = subprocess.run([str(EXE), "serve", "--port", str(port), "--workers", "2",
                              "--no-jobs"], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "cannot listen on 127.0.0.1" in run.stderr
    assert "serve_worker_started" not in run.stderr

    missing = str(tmp_path / "absent.pem")
    run = subprocess.run([str(EXE), "serve", "--port", str(port), "--workers", "2",
                          "--no-jobs", "--tls-cert", missing, "--tls-key", missing],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 3, run.stderr[-2000:]
    assert "serve_worker_failed_to_start" in run.stderr
    assert not _sockets(port, LISTEN)
