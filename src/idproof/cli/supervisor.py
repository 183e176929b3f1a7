"""`idproof serve --workers N`: N uvicorn workers, each on a listening socket of its own.

uvicorn's supervisor gives every worker one shared listening socket, and a connection goes to
whichever worker is waiting in accept() when it arrives. Under keep-alive load that is uneven:
wrk's 32 connections, opened at once, often all went to one worker, and two workers served like
one for the whole run. Here each worker binds the port itself with SO_REUSEPORT, and the kernel
spreads new connections over the workers by a hash of their addresses (nginx's `reuseport`).

The supervisor starts the workers, starts again one that dies (after a pause, never in a tight
loop), replaces them one at a time on SIGHUP, and on SIGTERM or SIGINT stops them all and
waits. A worker that fails before it first serves (a TLS file, the app failing to build) ends
the command, as uvicorn's does; a worker whose supervisor is gone (killed with -9) shuts down
rather than serving on with no one to restart it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event
from typing import Any

import structlog
import uvicorn

log = structlog.get_logger("idproof.cli")

APP = "idproof.web.app:create_app_from_env"
STARTUP_FAILURE = 3  # uvicorn's exit status for a server that never started
_SPAWN = multiprocessing.get_context("spawn")  # no fork: the parent holds threads and sockets


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to (host, port), not yet listening; with `reuse_port`, one of a
    group that the kernel balances connections across."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def claim_port(host: str, port: int) -> int:
    """The port the workers will share, checked free the way a plain bind checks it.

    A socket without SO_REUSEPORT cannot bind a port that any socket listens on, so another
    server there (even an idproof whose workers set SO_REUSEPORT) is an error here instead of
    a silent sharing of its traffic. Port 0 becomes the free port the kernel picked."""
    with listening_socket(host, port, reuse_port=False) as probe:
        return int(probe.getsockname()[1])


class _WorkerServer(uvicorn.Server):
    """uvicorn's server, telling the supervisor when it serves and watching for its end."""

    def __init__(self, config: uvicorn.Config, ready: Event, supervisor: int) -> None:
        super().__init__(config)
        self._ready = ready
        self._supervisor = supervisor

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._ready.set()

    async def on_tick(self, counter: int) -> bool:
        # Once a second: re-parented means the supervisor died without stopping this worker.
        if counter % 10 == 0 and os.getppid() != self._supervisor:
            self.should_exit = True
        return await super().on_tick(counter)


def _serve_one(app: str, factory: bool, host: str, port: int, options: dict[str, Any],
               ready: Event, supervisor: int) -> None:  # pragma: no cover - in the worker
    sock = listening_socket(host, port, reuse_port=True)
    config = uvicorn.Config(app, factory=factory, log_config=None, proxy_headers=False,
                            server_header=False, **options)
    server = _WorkerServer(config, ready, supervisor)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


@dataclass
class _Worker:
    process: SpawnProcess
    ready: Event
    restart_at: float | None = None  # set once it has died: when to start its replacement


@dataclass
class Supervisor:
    """Runs `workers` uvicorn workers on (host, port) until SIGTERM or SIGINT. `app` is the
    import path of the ASGI app (a factory when `factory`); `options`, uvicorn.Config's."""

    host: str
    port: int
    workers: int
    options: dict[str, Any] = field(default_factory=dict)
    app: str = APP
    factory: bool = True
    restart_after: float = 1.0
    stop_timeout: float = 30.0
    ready_timeout: float = 120.0
    _signals: list[int] = field(default_factory=list, init=False)
    _wake: threading.Event = field(default_factory=threading.Event, init=False)

    def _start(self) -> _Worker:
        ready = _SPAWN.Event()
        process = _SPAWN.Process(target=_serve_one, name="idproof-worker", daemon=False,
                                 args=(self.app, self.factory, self.host, self.port,
                                       self.options, ready, os.getpid()))
        process.start()
        log.info("serve_worker_started", pid=process.pid)
        return _Worker(process, ready)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._signals.append(signum)
        self._wake.set()

    def run(self) -> int:
        """Serve until told to stop; 0, or STARTUP_FAILURE when the workers could not start."""
        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        previous = {s: signal.signal(s, self._on_signal) for s in handled}
        pool = [self._start() for _ in range(self.workers)]
        try:
            return self._loop(pool)
        finally:
            self._stop(pool)
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _loop(self, pool: list[_Worker]) -> int:
        starting = True  # until every first worker serves: a death then is a failed start
        while True:
            self._wake.wait(0.2)
            self._wake.clear()
            while self._signals:
                signum = self._signals.pop(0)
                if signum != signal.SIGHUP:
                    log.info("serve_stopping", signal=signal.Signals(signum).name)
                    return 0
                self._replace_all(pool)
            if starting and all(w.ready.is_set() for w in pool):
                starting = False
            for i, worker in enumerate(pool):
                if worker.process.is_alive():
                    continue
                if starting and not worker.ready.is_set():
                    log.error("serve_worker_failed_to_start", pid=worker.process.pid,
                              exitcode=worker.process.exitcode)
                    return STARTUP_FAILURE
                pool[i] = self._after_death(worker)

    def _after_death(self, worker: _Worker) -> _Worker:
        now = time.monotonic()
        if worker.restart_at is None:
            log.warning("serve_worker_exited", pid=worker.process.pid,
                        exitcode=worker.process.exitcode)
            worker.restart_at = now + self.restart_after
        return self._start() if now >= worker.restart_at else worker

    def _replace_all(self, pool: list[_Worker]) -> None:
        """SIGHUP: one worker at a time, the new one serving before the old one stops."""
        for i, old in enumerate(pool):
            new = self._start()
            deadline = time.monotonic() + self.ready_timeout
            while not new.ready.wait(0.2):
                if self._signals or not new.process.is_alive() or time.monotonic() > deadline:
                    log.error("serve_worker_replacement_failed", pid=new.process.pid)
                    self._stop([new])
                    return
            self._stop([old])
            pool[i] = new

    def _stop(self, pool: list[_Worker]) -> None:
        """SIGTERM to each (uvicorn finishes the requests in flight), then wait; SIGKILL for
        what is still running after `stop_timeout`."""
        for worker in pool:
            if worker.process.is_alive():
                worker.process.terminate()
        deadline = time.monotonic() + self.stop_timeout
        for worker in pool:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                log.warning("serve_worker_killed", pid=worker.process.pid)
                worker.process.kill()
                worker.process.join()
