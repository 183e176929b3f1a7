"""One transaction of many rows through the raw INSERT path, on SQLite (multi-row VALUES)
and PostgreSQL (unnest of one typed array per column): every value back as written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    select,
)
from sqlalchemy.exc import IntegrityError

from idproof.db.engine import Database

_META = MetaData()
_T = Table("raw_insert_probe", _META,
           Column("id", BigInteger().with_variant(Integer(), "sqlite"),
                  primary_key=True, autoincrement=True),
           Column("name", String(16), nullable=False, unique=True),
           Column("blob", LargeBinary, nullable=False),
           Column("at", DateTime(timezone=True), nullable=False),
           Column("details", JSON, nullable=False),
           Column("maybe", String(8), nullable=True),
           Column("flag", Boolean, nullable=True))


@pytest.fixture
def db(db_url: str) -> Any:
    database = Database(db_url)
    _META.create_all(database.engine)
    yield database
    _META.drop_all(database.engine)
    database.dispose()


def _rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    t0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    return [{"name": f"r{start + i}", "blob": bytes([i % 256, 0, 255]),
             "at": t0 + timedelta(microseconds=i),
             "details": {"i": i, "scopes": ["a", "b"], "nested": {"ok": True}},
             "maybe": None, "flag": None} for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 77, 300])
def test_every_row_and_value_comes_back_in_order(db: Database, n: int) -> None:
    rows = _rows(n)
    db.insert_grouped(_T, rows)
    with db.read() as s:
        got = [dict(r._mapping) for r in s.execute(
            select(_T.c.name, _T.c.blob, _T.c.at, _T.c.details, _T.c.maybe, _T.c.flag)
            .order_by(_T.c.id))]
    for row in got:
        row["at"] = row["at"].astimezone(UTC) if row["at"].tzinfo else row["at"].replace(
            tzinfo=UTC)
    assert got == rows  # same values, and ids in the order the rows were given


def test_one_bad_row_writes_none_of_its_batch(db: Database) -> None:
    db.insert_grouped(_T, _rows(1, start=5))
    with pytest.raises(IntegrityError):
        db.insert_grouped(_T, _rows(10))  # r5 is taken: the whole transaction fails
    with db.read() as s:
        assert list(s.scalars(select(_T.c.name))) == ["r5"]
