"""Group-committed INSERTs through one DBAPI connection of their own (the hot audit queue path).

A transaction that only appends rows needs none of SQLAlchemy's per-statement machinery: here
each (table, columns) INSERT is built once, the column types' own bind processors turn the
values into what SQLAlchemy would have stored, and one `executemany` per run of rows goes to
the driver (psycopg sends it as one pipeline of a prepared statement). The connection is this
process's: opened on first use (and again after the database went away, or in a forked child),
one per group-commit leader writing at the same time (one on SQLite, under its write lock),
and committed before the callers are answered, so an answered append is a durable one. That
took a one-row append from about 200 to 65 us of CPU on SQLite.
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.pool import PoolProxiedConnection

from idproof.db.multi_row import insert_rows

Row = dict[str, Any]
_Processor = Callable[[Any], Any] | None
# In a transaction of several tables, PostgreSQL batches of at least this many rows go as one
# unnest INSERT. Client CPU per row (audit rows, measured alternately, inside BEGIN/COMMIT):
# 8 rows 56-59 us unnest against 50-56 us executemany; 64 rows 18-20 against 23-26 us. A
# batch of one table (the audit queue's) is one INSERT in autocommit whatever its size.
_UNNEST_FROM = 16


class _Disconnected(Exception):
    def __init__(self, error: StatementError, at_commit: bool) -> None:
        super().__init__(str(error))
        self.error, self.at_commit = error, at_commit


def _closed_by_server(conn: PoolProxiedConnection) -> bool:
    """True when the server wrote to this idle connection: its FATAL before closing it (a
    restart, an idle timeout, pg_terminate_backend). Nothing else arrives unasked on it (it
    LISTENs to nothing), and a lone INSERT on a dead connection is not sent again (it may
    have committed), so such a connection is replaced before it is used, for one poll()."""
    raw = conn.dbapi_connection
    if raw is None:
        return True
    try:
        poller = select.poll()
        poller.register(raw.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError, AttributeError):  # closed, or no socket to ask
        return True


class RawInserts:
    """Writes runs of rows (each run: one table, one set of keys) in one transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect
        self._sqlite = engine.dialect.name == "sqlite"
        self._idle: list[PoolProxiedConnection] = []  # this process's, between writes
        self._lock = threading.Lock()
        self._pid = 0
        self._statements: dict[tuple[Table, tuple[str, ...]],
                               tuple[str, list[_Processor]]] = {}
        self._unnest: dict[tuple[Table, tuple[str, ...]], str] = {}

    def write(self, runs: Sequence[tuple[Table, Sequence[Row]]]) -> None:
        """INSERT every run, in order, and commit; raises SQLAlchemy's error (IntegrityError,
        OperationalError ...) with nothing written if any statement fails. A connection found
        dead before COMMIT was sent is replaced once (what the pool's pre-ping does for the
        other connections); a failed COMMIT is never retried, as it may have committed, nor a
        failed lone INSERT on PostgreSQL (its own COMMIT): an idle connection the server
        closed is replaced before it is used instead (`_closed_by_server`)."""
        try:
            self._write_once(runs)
        except _Disconnected as lost:
            if lost.at_commit:
                raise lost.error from lost.error.orig
            self._write_once(runs)

    def _write_once(self, runs: Sequence[tuple[Table, Sequence[Row]]]) -> None:
        conn = self._connection()
        try:
            self._transaction(conn, runs)
        except _Disconnected:
            raise  # that connection is gone (invalidated)
        except Exception:
            self._put_back(conn)  # rolled back (or invalidated, then dropped)
            raise
        except BaseException:  # interrupted mid-transaction: never reused half-way
            with suppress(Exception):
                conn.invalidate()
            raise
        self._put_back(conn)

    def _transaction(self, conn: PoolProxiedConnection,
                     runs: Sequence[tuple[Table, Sequence[Row]]]) -> None:
        cur = conn.cursor()
        statement = "BEGIN"
        params: list[tuple[Any, ...]] = []
        # PostgreSQL, one table: one INSERT, which in autocommit is a transaction of its own,
        # sent, run and committed in one round trip. BEGIN, INSERT and COMMIT were three, each
        # through psycopg's Python command machinery (writer CPU per append: see below).
        alone = not self._sqlite and len(runs) == 1
        dbapi = conn.dbapi_connection
        try:
            if self._sqlite:  # the connection is in autocommit mode: the transaction is ours
                cur.execute("BEGIN IMMEDIATE")
            elif alone and dbapi is not None:
                dbapi.autocommit = True
            for table, rows in runs:
                keys = tuple(rows[0])
                statement, procs = self._statement(table, keys)
                params = [tuple(p(r[k]) if p is not None else r[k]
                                for k, p in zip(keys, procs, strict=True)) for r in rows]
                if self._sqlite and len(params) > 1:  # one step per chunk (db/multi_row.py)
                    insert_rows(cur.execute, statement.split(" VALUES ", 1)[0], params)
                elif len(params) >= _UNNEST_FROM or (alone and len(params) > 1):
                    statement = self._unnest_sql(table, keys)  # one statement, an array a column
                    cur.execute(statement, [list(column) for column in zip(*params, strict=True)])
                elif len(params) == 1:
                    cur.execute(statement, params[0])
                else:
                    cur.executemany(statement, params)
            statement = "COMMIT"
            conn.commit()  # nothing left to commit when `alone`
        except Exception as exc:
            gone = self._failed(conn, cur, exc)
            dbapi_error = self._dialect.loaded_dbapi.Error
            if not isinstance(exc, dbapi_error):
                raise
            error = DBAPIError.instance(statement, params, exc, dbapi_error,
                                        connection_invalidated=gone, dialect=self._dialect)
            if gone:
                # Lost during a lone INSERT, it may have committed: never sent twice either.
                raise _Disconnected(error, statement == "COMMIT" or alone) from exc
            raise error from exc
        finally:
            if alone and dbapi is not None:
                with suppress(Exception):  # as the pool and SQLAlchemy expect it back
                    dbapi.autocommit = False
            with suppress(Exception):
                cur.close()

    def _failed(self, conn: PoolProxiedConnection, cur: Any, exc: Exception) -> bool:
        """Roll back; drop the connection if the database went away (the next write opens a
        new one). True if it went away."""
        gone = isinstance(exc, self._dialect.loaded_dbapi.Error) and self._dialect.is_disconnect(
            exc, conn.dbapi_connection, cur)
        if not gone and self._rolled_back(conn, cur):
            return False
        with suppress(Exception):  # gone, or it cannot roll back: never reused
            conn.invalidate()
        return gone

    def _rolled_back(self, conn: PoolProxiedConnection, cur: Any) -> bool:
        try:
            if not self._sqlite:
                conn.rollback()
            elif conn.dbapi_connection is not None and conn.dbapi_connection.in_transaction:
                cur.execute("ROLLBACK")
            return True
        except Exception:
            return False

    def _connection(self) -> PoolProxiedConnection:
        with self._lock:
            pid = os.getpid()
            if self._pid != pid:
                # A forked child must not write on its parent's sockets or file handles.
                self._idle, self._pid = [], pid
            idle = self._idle
            while idle:
                conn = idle.pop()
                if self._sqlite or not _closed_by_server(conn):
                    return conn
                with suppress(Exception):
                    conn.invalidate()
        return self._engine.raw_connection()

    def _put_back(self, conn: PoolProxiedConnection) -> None:
        if conn.is_valid:
            with self._lock:
                self._idle.append(conn)

    def _statement(self, table: Table, keys: tuple[str, ...]) -> tuple[str, list[_Processor]]:
        found = self._statements.get((table, keys))
        if found is None:
            prep = self._dialect.identifier_preparer
            mark = "?" if self._dialect.paramstyle == "qmark" else "%s"
            sql = (f"INSERT INTO {prep.format_table(table)} "  # noqa: S608 - names from metadata
                   f"({', '.join(prep.quote(k) for k in keys)}) "
                   f"VALUES ({', '.join(mark for _ in keys)})")
            procs: list[_Processor] = [
                table.c[k].type.dialect_impl(self._dialect).bind_processor(self._dialect)
                for k in keys]
            found = self._statements[(table, keys)] = (sql, procs)
        return found

    def _unnest_sql(self, table: Table, keys: tuple[str, ...]) -> str:
        """PostgreSQL: `INSERT ... SELECT * FROM unnest(%s::type[], ...)`. executemany in a
        pipeline adapted and sent every row on its own (15 % of a grant's GIL time on
        PostgreSQL); here psycopg adapts one list per column and the server gets one
        statement."""
        found = self._unnest.get((table, keys))
        if found is None:
            prep = self._dialect.identifier_preparer
            # %b: binary arrays, which psycopg dumps in C-speed loops (text ones it escapes).
            arrays = ", ".join(f"%b::{table.c[k].type.compile(self._dialect)}[]" for k in keys)
            found = self._unnest[(table, keys)] = (
                f"INSERT INTO {prep.format_table(table)} "  # noqa: S608 - names from metadata
                f"({', '.join(prep.quote(k) for k in keys)}) SELECT * FROM unnest({arrays})")
        return found

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            ours = self._pid == os.getpid()
        for conn in idle if ours else []:
            with suppress(Exception):
                conn.close()
