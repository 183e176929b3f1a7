"""The audit sequencer: one process at a time integrates the pending queue into the tree.

Requests only append to `audit_pending`. A `Sequencer` thread runs in every `idproof serve`
and `idproof worker` process; one of them is elected (a PostgreSQL session advisory lock, or
an exclusive lock on a file next to the SQLite database) and integrates pending events every
`interval` seconds, or at once while a full batch is waiting. The others stand by and retry
the election every second, so a killed sequencer is replaced within about a second, and its
unfinished batch (rolled back with its connection) is taken again by the next one.

The election is about efficiency only: `AuditService.integrate` locks the tree head, so two
integrations can never interleave, whoever runs them.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from abc import ABC, abstractmethod
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

import structlog
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from idproof.audit.service import DEFAULT_BATCH, AuditService
from idproof.db.engine import Database

log = structlog.get_logger("idproof.audit")

SQLITE_BATCH = 250
# At most one WAL checkpoint per this many seconds: each costs fsyncs, and a pass of a small
# batch comes every few milliseconds under load.
CHECKPOINT_EVERY = 0.2


def default_batch(db: Database) -> int:
    """Events per integration transaction when the settings leave it open: on SQLite the
    transaction holds every process's writers off, so a smaller one (append p99 6-8 ms instead
    of 10-11 at 20,000 appends/s, for about 5 % fewer appends/s; bench/audit_sequencer.py)."""
    return SQLITE_BATCH if db.dialect == "sqlite" else DEFAULT_BATCH


# pg_try_advisory_lock key: "idproof audit sequencer", fixed so every replica agrees.
ADVISORY_KEY = 0x1D9A_0A5E


class _Election(ABC):
    """Leadership, held as long as this object holds its lock (a lock file on SQLite, an
    advisory lock on PostgreSQL)."""

    @abstractmethod
    def try_acquire(self) -> bool:
        """Take the lock if free; True while this object holds it."""

    def still_held(self) -> bool:
        """A file lock cannot be lost while the file is open; a connection's lock can."""
        return True

    @abstractmethod
    def release(self) -> None:
        """Give the lock up (idempotent)."""


class _FileElection(_Election):
    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: IO[bytes] | None = None

    def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o600)
        f = os.fdopen(fd, "r+b")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        self._file = f
        return True

    def release(self) -> None:
        if self._file is not None:
            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            finally:
                self._file.close()
                self._file = None


class _AdvisoryElection(_Election):
    """A session-level advisory lock on a connection of its own (no pool): it lasts exactly as
    long as that connection, so a killed process releases it with its socket."""

    def __init__(self, url: str) -> None:
        self._engine = create_engine(url, poolclass=NullPool)
        self._conn: Any = None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = self._engine.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                               {"k": ADVISORY_KEY}).scalar()
            conn.commit()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except Exception:
            self.release()
            return False

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                # If the connection is gone, the lock went with it.
                with suppress(Exception):
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
                    conn.commit()
            finally:
                conn.close()

    def dispose(self) -> None:
        self.release()
        self._engine.dispose()


def election_for(db: Database) -> _Election:
    if db.dialect == "postgresql":
        return _AdvisoryElection(db.url)
    database = make_url(db.url).database
    if not database or database == ":memory:":
        return _AlwaysLeader()
    return _FileElection(Path(f"{database}-audit-sequencer.lock"))


class _AlwaysLeader(_Election):
    def try_acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass


class Sequencer:
    """Integrates pending audit events in the background while elected."""

    def __init__(self, audit: AuditService, db: Database, *, interval: float = 0.05,
                 batch: int | None = None, elect_every: float = 1.0) -> None:
        self._audit = audit
        self._db = db
        self.interval = interval
        self.batch = batch or default_batch(db)
        self._elect_every = elect_every
        self._election = election_for(db)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.leader = False
        self._checkpoint_due = 0.0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Run in the background; this process's requests stop integrating inline."""
        if self.running:
            return
        self._stop.clear()
        self._audit.inline = False
        self._thread = threading.Thread(target=self._run, name="idproof-audit-sequencer",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop, integrate what this process left pending (best effort), resign."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        try:
            if self.leader:
                self._audit.integrate_all(self.batch)
        except Exception as exc:
            log.error("audit_sequencer_final_integration_failed",
                      error_type=type(exc).__name__)
        self._resign()
        self._audit.inline = True

    def _resign(self) -> None:
        self.leader = False
        with suppress(Exception):  # releasing a lock on a dead connection
            self._election.release()

    def run_once(self) -> int:
        """One pass (tests and tools): integrate up to one batch if elected."""
        if not self.leader:
            self.leader = self._election.try_acquire()
        return self._integrate() if self.leader else 0

    def _integrate(self) -> int:
        n = self._audit.integrate(self.batch)
        now = time.monotonic()
        if n and now >= self._checkpoint_due:
            # SQLite: the WAL is copied into the database here, outside the write lock, not
            # in some writer's COMMIT while every other writer waits (db/engine.py).
            self._checkpoint_due = now + CHECKPOINT_EVERY
            self._db.checkpoint()
        return n

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                if not self.leader or not self._election.still_held():
                    self.leader = self._election.try_acquire()
                    if not self.leader:
                        self._stop.wait(self._elect_every)
                        continue
                    log.info("audit_sequencer_elected", pid=os.getpid())
                n = self._integrate()
                if n >= self.batch:
                    continue  # a full batch: more may be waiting
            except Exception as exc:  # the database went away: retry, re-elect if needed
                log.error("audit_sequencer_failed", error_type=type(exc).__name__)
                self._resign()
                self._stop.wait(self._elect_every)
                continue
            # Every `interval` from the start of the last pass, not `interval` after its end:
            # under load a pass takes a while, and the queue should not wait for both.
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
