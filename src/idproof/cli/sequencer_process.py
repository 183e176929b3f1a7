"""The audit sequencer in a process of its own, started and restarted by `idproof serve`.

As a thread, the sequencer took about a sixth of a worker's CPU and handed the GIL back and
forth with the requests of that worker; as a process, it runs on another core and the workers
only queue their events. The child is `idproof audit sequencer --exit-with <this pid>`: it
stops when this process is gone, even killed with -9, and this process starts a new one when
the child dies (the election lock goes with a dead child, so the new one is elected).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import structlog

log = structlog.get_logger("idproof.audit")


class SequencerProcess:
    """`start()` runs the child and watches it; `stop()` ends it (it integrates what is left)."""

    def __init__(self, *, restart_after: float = 1.0, stop_timeout: float = 30.0) -> None:
        self._restart_after = restart_after
        self._stop_timeout = stop_timeout
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._watcher: threading.Thread | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        # The same interpreter and environment (data dir, database, settings) as this process.
        argv = [sys.executable, "-m", "idproof", "audit", "sequencer",
                "--exit-with", str(os.getpid())]
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, close_fds=True)  # noqa: S603

    def start(self) -> None:
        with self._lock:
            if self._proc is not None:
                return
            self._stopping.clear()
            self._proc = self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="idproof-sequencer-watch",
                                         daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while True:
            proc = self._proc
            if proc is None:
                return
            code = proc.wait()
            if self._stopping.is_set():
                return
            log.warning("audit_sequencer_process_exited", returncode=code)
            # Not in a tight loop if it cannot start: events stay queued (durable) meanwhile.
            if self._stopping.wait(self._restart_after):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self._proc = self._spawn()

    def stop(self) -> None:
        """SIGTERM, then wait for the child's last integration; SIGKILL past the timeout."""
        with self._lock:
            self._stopping.set()
            proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self._stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._watcher is not None:
            self._watcher.join(5)
