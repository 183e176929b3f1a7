"""Group commit: concurrent one-row INSERTs from many threads written in one transaction.

A caller returns only once its rows are committed (or with its own error), exactly as with a
transaction of its own; the commits are shared. Up to `leaders` callers at a time hold the
lead (one on SQLite, which has one writer anyway; a few on PostgreSQL, where a transaction
waits mostly for its WAL flush and the next one can be on its way meanwhile). A leader takes
everything queued (up to `max_batch` rows), writes it in one transaction, and passes the lead
to the first queued caller without one, or gives it up when none is left. While transactions
are being written the next callers queue up: under load each commit carries many rows (one
SQLite write lock, one PostgreSQL WAL flush) instead of one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table

Rows = Sequence[dict[str, Any]]
# Writes runs of rows (one table and one set of keys each), in order, in one transaction.
Writer = Callable[[list[tuple[Table, list[dict[str, Any]]]]], None]


@dataclass(eq=False)
class _Pending:
    table: Table
    rows: Rows
    wake: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # holds a lead: its thread writes the next batch
    written: bool = False  # committed, or failed with `error`
    error: BaseException | None = None


class GroupCommit:
    """Shares transactions between concurrent `insert` calls (see the module docstring)."""

    def __init__(self, write: Writer, *, max_batch: int = 500, leaders: int = 1) -> None:
        self._write = write
        self._max_batch = max_batch
        self._max_leaders = leaders
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._leaders = 0  # leads held (each by a queued or writing caller)
        self.transactions = 0  # how many were written: lets tests see rows were grouped

    def insert(self, table: Table, rows: Rows) -> None:
        """INSERT `rows` into `table`; returns once they are committed, raises if they are not."""
        if not rows:
            return
        item = _Pending(table, rows)
        with self._lock:
            self._queue.append(item)
            if self._leaders < self._max_leaders:
                self._leaders += 1
                item.lead = True
        while True:
            # The flags are set before `wake`, and read after it is cleared: none is missed.
            if item.lead:
                item.lead = False
                self._lead_once()
            if item.written:
                break
            item.wake.wait()
            item.wake.clear()
        if item.error is not None:
            raise item.error

    def _lead_once(self) -> None:
        """Write one batch (this caller's rows, if still queued, are in it unless the batch
        is full), then pass the lead on or give it up."""
        try:
            batch = self._take()
            if batch:
                self._flush(batch)
        finally:  # even when interrupted: a queued caller must never wait for a lost leader
            with self._lock:
                nxt = next((i for i in self._queue if not i.lead), None)
                if nxt is None:
                    self._leaders -= 1
                else:
                    nxt.lead = True
            if nxt is not None:
                nxt.wake.set()

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
                with self._lock:
                    self.transactions += 1
        except BaseException as exc:  # interrupted: whoever was not written is told so
            for item in batch:
                item.error = item.error or exc
            raise
        finally:
            for item in batch:
                item.written = True
                item.wake.set()

    def _write_all(self, batch: list[_Pending]) -> None:
        # Runs of consecutive rows with the same table and keys, in the callers' order: each
        # run is one executemany, and rows keep the order they were queued in.
        runs: list[tuple[Table, list[dict[str, Any]]]] = []
        last: tuple[Table, Any] | None = None
        for item in batch:
            for row in item.rows:
                shape = (item.table, row.keys())
                if last is None or shape[0] is not last[0] or shape[1] != last[1]:
                    runs.append((item.table, []))
                    last = shape
                runs[-1][1].append(row)
        self._write(runs)
