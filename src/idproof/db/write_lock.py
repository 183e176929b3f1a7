"""SQLite's one writer, queued in the kernel: a thread lock per process, a file lock across them.

SQLite lets one transaction write at a time. A process that finds the database locked waits in
SQLite's busy handler, which sleeps and polls (1, 2, 5, 10 ... up to 100 ms between tries): with
several worker processes writing, the lock was often free while every waiter slept, and a waiter
could lose the race to the same process again and again (seconds at p99). Here the writers of
one process queue on a re-entrant thread lock, and the one holding it takes an exclusive
`flock` on a file beside the database before `BEGIN IMMEDIATE`: a process waiting for it sleeps
in the kernel and is woken the moment the holder commits. The lock is an optimisation only:
a writer that does not take it (a migration, a tool on its own engine) still meets SQLite's
own lock and its busy timeout, and a killed holder's lock goes with its file descriptor.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

# The lock files this process holds, and the thread holding each: a thread that holds one
# through one Database and opens a write through another Database on the same file must not
# wait for itself in the kernel (it meets SQLite's busy timeout instead, as it always did).
_HOLDERS: dict[Path, int] = {}
_HOLDERS_LOCK = threading.Lock()


class WriteLock:
    """`acquire`/`release` around a unit of work that may write; `take_file` at its BEGIN."""

    def __init__(self, path: Path | None) -> None:
        self._threads = threading.RLock()
        self._path = path  # None: one process only (an in-memory database)
        self._depth = 0  # nesting of acquire() by the owning thread
        self._fd: int | None = None
        self._pid = 0  # the process that opened _fd (a forked child opens its own)
        self._file_held = False

    @property
    def cross_process(self) -> bool:
        """False in memory: one process only."""
        return self._path is not None

    def acquire(self) -> None:
        self._threads.acquire()
        self._depth += 1

    def release(self) -> None:
        """Leave one level; the outermost also gives the file lock up (after the commit)."""
        try:
            self._depth -= 1
            if self._depth == 0 and self._file_held:
                self._file_held = False
                if self._path is not None:
                    with _HOLDERS_LOCK:
                        _HOLDERS.pop(self._path, None)
                if self._fd is not None and self._pid == os.getpid():
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()

    def owned(self) -> bool:
        """True on the thread inside `acquire` (another thread here would wait for it)."""
        return bool(self._threads._is_owned())  # type: ignore[attr-defined]

    def take_file(self) -> None:
        """Wait for the other processes' writers (blocking in the kernel, the GIL released),
        for the rest of the outermost unit of work. Only the owning thread calls this."""
        if self._file_held or self._path is None:
            return
        me = threading.get_ident()
        with _HOLDERS_LOCK:
            if _HOLDERS.get(self._path) == me:
                return  # held by this very thread through another Database
        fcntl.flock(self._file(), fcntl.LOCK_EX)
        with _HOLDERS_LOCK:
            _HOLDERS[self._path] = me
        self._file_held = True

    def _file(self) -> int:
        pid = os.getpid()
        if self._fd is None or self._pid != pid:
            # A forked child shares its parent's open file description, and with it any flock
            # held on it: it opens the file itself.
            assert self._path is not None
            self._fd = os.open(self._path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
            self._pid = pid
        return self._fd

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None and self._pid == os.getpid():
            os.close(fd)
