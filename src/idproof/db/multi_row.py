"""SQLite INSERTs of many rows as multi-row VALUES statements: one step per chunk of rows.

`executemany` steps its statement once per row, and Python's sqlite3 releases the GIL around
every step and takes it back after. In a thread of a busy server (the audit writer, the
sequencer) each of those hand-overs gives the GIL to the event loop and then waits for it
back: measured, 1.5 context switches per audited request, and the sequencer holding SQLite's
write lock all the while. A chunk of rows in one statement is one step and one hand-over.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

# The fewest bound parameters any SQLite build has allowed per statement (32,766 since 3.32).
MAX_PARAMS = 999
MAX_ROWS = 128


@lru_cache(maxsize=256)
def values_sql(head: str, columns: int, rows: int) -> str:
    """`head VALUES (?, ...), (?, ...)`: `rows` groups of `columns` placeholders."""
    group = "(" + ", ".join("?" * columns) + ")"
    return f"{head} VALUES {', '.join([group] * rows)}"


def chunk_sizes(rows: int, columns: int) -> list[int]:
    """How many rows each statement takes: the largest power of two left, within the bound
    on parameters, so that a table needs only a handful of statement texts."""
    cap = max(1, min(MAX_ROWS, MAX_PARAMS // max(1, columns)))
    sizes: list[int] = []
    left = rows
    while left > 0:
        n = min(cap, 1 << (left.bit_length() - 1))
        sizes.append(n)
        left -= n
    return sizes


def insert_rows(execute: Callable[[str, tuple[Any, ...]], Any], head: str,
                rows: Sequence[Sequence[Any]]) -> None:
    """INSERT `rows` (each a tuple of the columns `head` names, in order) with `execute`
    (a DBAPI cursor's, or a SQLAlchemy connection's `exec_driver_sql`)."""
    if not rows:
        return
    columns = len(rows[0])
    at = 0
    for n in chunk_sizes(len(rows), columns):
        execute(values_sql(head, columns, n), tuple(v for row in rows[at:at + n] for v in row))
        at += n
