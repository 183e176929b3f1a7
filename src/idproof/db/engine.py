"""Engine and unit-of-work factory for SQLite (WAL, embedded) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Table, create_engine, event, insert, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from idproof.db.group_commit import GroupCommit, Rows
from idproof.db.raw_insert import RawInserts
from idproof.db.write_lock import WriteLock

# SQLite checkpoints the WAL in the connection whose COMMIT takes it past this many pages, and
# our writers hold the cross-process write lock until their COMMIT returns (write_lock.py):
# every writer of every process then waited for the copy and its fsyncs. The audit sequencer
# checkpoints instead, outside the lock (`Database.checkpoint`, at most every 0.2 s); this
# threshold (SQLite's default is 1,000) only bounds the WAL where no sequencer runs.
WAL_AUTOCHECKPOINT_PAGES = 10_000


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cur.close()


def _sqlite_begin(before_write: Callable[[], None] | None, conn: Any) -> None:
    # Writers take the write lock at BEGIN so they queue on busy_timeout instead of failing
    # with "database is locked" when a read transaction tries to upgrade; read-only units of
    # work (Database.read) begin deferred and run beside them under WAL.
    if conn.get_execution_options().get("idproof_readonly"):
        conn.exec_driver_sql("BEGIN")
    else:
        if before_write is not None:
            before_write()  # Database: wait for the other processes' writers (write_lock.py)
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, before_write: Callable[[], None] | None = None,
                **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a private (0600) file, and calls
    `before_write` before each BEGIN IMMEDIATE."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database)
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                # Create the file owner-only before SQLite opens it; WAL/SHM files inherit
                # this mode from the main database file.
                fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
                os.close(fd)
        engine = create_engine(url, connect_args={"check_same_thread": False,
                                                  "isolation_level": None}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", partial(_sqlite_begin, before_write))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


# Grouped INSERT transactions of one process in flight at once on PostgreSQL. Three let the
# next batch go out while one waited for its WAL flush, but each batch was then smaller, and a
# batch's client CPU is mostly per batch: one leader, paired runs on 2 cores, took 7-13 % less
# CPU per grant (PostgreSQL grants +4 % with 1 and 2 workers) and 24 % less per append from
# threads (+30 % appends/s), at the same append p99. Batches grow while a flush is waited for.
PG_GROUP_LEADERS = 1


class Database:
    """Owns one engine and hands out units of work (a session committed or rolled back whole)."""

    def __init__(self, url: str, *, schema: str | None = None, **engine_kwargs: Any) -> None:
        self.url = url
        # The engine owning the pool (DDL, dispose); `engine` adds the schema mapping when
        # the tables live in a named PostgreSQL schema (the key store can).
        self._write_lock = (WriteLock(_lock_path(url))
                            if make_url(url).get_backend_name() == "sqlite" else None)
        self.base_engine = make_engine(url, before_write=self._before_write, **engine_kwargs)
        self.engine = (self.base_engine.execution_options(schema_translate_map={None: schema})
                       if schema else self.base_engine)
        self.dialect = self.base_engine.dialect.name
        self.read_engine = self.engine.execution_options(idproof_readonly=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(self.read_engine, expire_on_commit=False)
        # SQLite has one writer at a time. Queue this process's writers on a lock instead of
        # letting each hold a pooled connection while SQLite's busy handler sleeps: under load
        # that exhausted the pool and stalled even read-only requests. Re-entrant, because a
        # unit of work may open a nested one on the same thread (audit checkpoints do). Other
        # processes' writers queue on a file lock taken at BEGIN (see write_lock.py).
        # The grouped INSERTs (the audit queue) go through a DBAPI connection of their own
        # (raw_insert.py); a schema-mapped database keeps SQLAlchemy's path, which maps names.
        # In memory (one connection shared by every thread) too.
        self._raw = (RawInserts(self.base_engine) if schema is None and (
            self._write_lock is None or self._write_lock.cross_process) else None)
        self._group = GroupCommit(self._write_runs, leaders=self.write_concurrency)

    @property
    def write_concurrency(self) -> int:
        """Grouped INSERT transactions worth having in flight at once from one process: one
        on SQLite (one writer); on PostgreSQL `PG_GROUP_LEADERS` (one: see there)."""
        return 1 if self.dialect == "sqlite" else PG_GROUP_LEADERS

    def _before_write(self) -> None:
        """SQLite, before BEGIN IMMEDIATE: a unit of work of this Database (its thread holds
        the write lock) waits for the other processes' writers in the kernel."""
        lock = self._write_lock
        if lock is not None and lock.owned():
            lock.take_file()

    def insert_grouped(self, table: Table, rows: Rows) -> None:
        """INSERT `rows` in a transaction of their own, committed before this returns, but
        shared with other threads' concurrent calls (group commit: one commit for many)."""
        lock = self._write_lock
        if lock is not None and lock.owned():
            # This thread is inside a write already: a leader on another thread would wait
            # for the lock it holds, so it writes on its own, as before.
            with self.write() as conn:
                conn.execute(insert(table), list(rows))
            return
        self._group.insert(table, rows)

    def _write_runs(self, runs: list[tuple[Table, list[dict[str, Any]]]]) -> None:
        """Group commit's writer: every run in one transaction, committed on return."""
        if self._raw is None:
            with self.write() as conn:
                for table, rows in runs:
                    conn.execute(insert(table), rows)
            return
        lock = self._write_lock
        if lock is None:
            self._raw.write(runs)
            return
        with lock:
            lock.take_file()  # the raw connection's BEGIN fires no engine event
            self._raw.write(runs)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back everything on any exception."""
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        s = self._sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()
            if lock is not None:
                lock.release()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A Core unit of work (a connection in a transaction, committed or rolled back whole)
        for statements that need no ORM session: cheaper on hot paths like the audit queue."""
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            with self.engine.begin() as conn:
                yield conn
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work: on SQLite it does not take the write lock."""
        s = self._readers()
        try:
            yield s
        finally:
            # close() ends the transaction without expiring what was loaded (rollback would).
            s.close()

    def checkpoint(self) -> None:
        """SQLite: copy the WAL's committed pages into the database file (PASSIVE: beside the
        writers and readers, never waiting for them), outside the write lock. A no-op
        elsewhere."""
        if self._write_lock is None:
            return
        raw = self.base_engine.raw_connection()
        try:  # autocommit (isolation_level None): no BEGIN, so no write lock is taken
            cur = raw.cursor()
            cur.execute("PRAGMA wal_checkpoint(PASSIVE)")
            cur.close()
        finally:
            raw.close()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        if self._raw is not None:
            self._raw.close()
        self.base_engine.dispose()
        if self._write_lock is not None:
            self._write_lock.close()


def _lock_path(url: str) -> Path | None:
    """The file the processes' writers lock, beside the database; None in memory."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(f"{os.path.abspath(database)}-writer.lock")


def open_database(url: str) -> Database:
    """The services' database: a failing statement never prints its parameters (personal
    data) into a log or an exception message."""
    return Database(url, hide_parameters=True)
