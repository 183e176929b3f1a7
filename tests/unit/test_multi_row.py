"""SQLite multi-row INSERTs: every row, in order, in few statements, within SQLite's bounds."""

from __future__ import annotations

import sqlite3

import pytest

from idproof.db.multi_row import MAX_PARAMS, chunk_sizes, insert_rows, values_sql


@pytest.mark.parametrize("rows", [1, 2, 3, 7, 64, 75, 76, 77, 200, 1000])
@pytest.mark.parametrize("columns", [1, 3, 13])
def test_chunks_cover_the_rows_within_the_parameter_bound(rows: int, columns: int) -> None:
    sizes = chunk_sizes(rows, columns)
    assert sum(sizes) == rows
    assert all(0 < n * columns <= MAX_PARAMS for n in sizes)
    assert sizes == sorted(sizes, reverse=True)  # largest first: few distinct texts


def test_values_sql_has_one_group_per_row() -> None:
    assert values_sql("INSERT INTO t (a, b)", 2, 3) == (
        "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?)")


@pytest.mark.parametrize("count", [0, 1, 2, 77, 1000])
def test_insert_rows_writes_every_row_in_order(count: int) -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c BLOB)")
    rows = [(i, f"r{i}", bytes([i % 256])) for i in range(count)]
    calls: list[int] = []

    def execute(sql: str, params: tuple[object, ...]) -> object:
        calls.append(len(params))
        return db.execute(sql, params)

    insert_rows(execute, "INSERT INTO t (a, b, c)", rows)
    assert db.execute("SELECT a, b, c FROM t ORDER BY id").fetchall() == rows
    assert len(calls) == len(chunk_sizes(count, 3))
    assert count < 2 or len(calls) < count  # batched, not one statement per row


def test_a_failing_row_fails_the_transaction_it_is_in() -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute("CREATE TABLE t (a INTEGER UNIQUE)")
    db.execute("BEGIN")
    with pytest.raises(sqlite3.IntegrityError):
        insert_rows(db.execute, "INSERT INTO t (a)", [(1,), (2,), (2,)])
    db.execute("ROLLBACK")
    assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)
