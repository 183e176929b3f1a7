"""Group commit: concurrent one-row INSERTs from many threads written in one transaction.

A caller returns only once its rows are committed (or with its own error), exactly as with a
transaction of its own; the commits are shared. The first caller to find no writer at work
becomes the leader: it takes everything queued (up to `max_batch` rows), writes it in one
transaction and hands the lead to the next queued caller, if any. While a transaction is
being written, the next callers queue up: under load each commit carries many rows (one
SQLite write lock, one PostgreSQL WAL flush) instead of one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, insert

Rows = Sequence[dict[str, Any]]


@dataclass(eq=False)
class _Pending:
    table: Table
    rows: Rows
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to lead the next batch rather than because it is written
    error: BaseException | None = None


class GroupCommit:
    """Shares transactions between concurrent `insert` calls (see the module docstring)."""

    def __init__(self, write: Callable[[], AbstractContextManager[Connection]], *,
                 max_batch: int = 500) -> None:
        self._write = write
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._leading = False
        self.transactions = 0  # how many were written: lets tests see rows were grouped

    def insert(self, table: Table, rows: Rows) -> None:
        """INSERT `rows` into `table`; returns once they are committed, raises if they are not."""
        if not rows:
            return
        item = _Pending(table, rows)
        with self._lock:
            self._queue.append(item)
            lead = not self._leading
            self._leading = True
        while not lead:
            item.done.wait()
            if not item.lead:
                break
            item.done.clear()
            item.lead, lead = False, True
        if lead:
            self._lead(item)
        if item.error is not None:
            raise item.error

    def _lead(self, own: _Pending) -> None:
        """Write batches until `own` is written, then hand the lead on (or give it up)."""
        try:
            written = False
            while not written:
                batch = self._take()
                self._flush(batch)
                written = own in batch
        finally:  # even when interrupted: a queued caller must never wait for a lost leader
            with self._lock:
                nxt = self._queue[0] if self._queue else None
                self._leading = nxt is not None
            if nxt is not None:
                nxt.lead = True
                nxt.done.set()

    def _take(self) -> list[_Pending]:
        with self._lock:
            batch: list[_Pending] = []
            count = 0
            while self._queue and (not batch or count + len(self._queue[0].rows)
                                   <= self._max_batch):
                item = self._queue.pop(0)
                batch.append(item)
                count += len(item.rows)
            return batch

    def _flush(self, batch: list[_Pending]) -> None:
        try:
            try:
                self._write_all(batch)
            except Exception:
                # One caller's bad rows must not fail the others: each on its own, then, so
                # that every caller gets exactly its own outcome.
                for item in batch:
                    try:
                        self._write_all([item])
                    except Exception as exc:
                        item.error = exc
            else:
                self.transactions += 1
        except BaseException as exc:  # interrupted: whoever was not written is told so
            for item in batch:
                item.error = item.error or exc
            raise
        finally:
            for item in batch:
                item.done.set()

    def _write_all(self, batch: list[_Pending]) -> None:
        by_table: dict[Table, list[dict[str, Any]]] = {}
        for item in batch:
            by_table.setdefault(item.table, []).extend(item.rows)
        with self._write() as conn:
            for table, rows in by_table.items():
                conn.execute(insert(table), rows)
