"""One contract for every blob store: the local folder, the database (SQLite and PostgreSQL)
and S3 (only when IDPROOF_TEST_S3_URL names a bucket, e.g.
`http://KEY:SECRET@127.0.0.1:9000/idproof-test?region=us-east-1`)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from idproof.db.engine import Database
from idproof.verification.blobs import BlobNotFound, BlobStore, LocalBlobStore
from idproof.verification.blobs_sql import BlobChunk, DatabaseBlobStore
from tests.conftest import _pg_admin_url, _pg_exec

S3_URL = os.environ.get("IDPROOF_TEST_S3_URL")


def _database_url(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> Iterator[str]:
    if kind == "sqlite":
        target = tmp_path / "blobs.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    name = f"idproof_b_{uuid.uuid4().hex[:12]}"
    _pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{request.getfixturevalue("pg_template")}"')
    yield make_url(_pg_admin_url()).set(database=name).render_as_string(hide_password=False)
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["local", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres),
                        "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
    elif request.param in ("sqlite", "postgresql"):
        urls = _database_url(request, tmp_path, request.param)
        db = Database(next(urls))
        yield DatabaseBlobStore(db, chunk=1000)  # small chunks: several rows per blob
        db.dispose()
        next(urls, None)
    else:
        if not S3_URL:
            pytest.skip("set IDPROOF_TEST_S3_URL to run the S3 contract tests")
        from idproof.verification.blobs_s3 import S3BlobStore

        s3 = S3BlobStore.from_url(S3_URL)
        s3.prefix += f"t{uuid.uuid4().hex[:8]}/"
        yield s3


def test_round_trip_replace_delete(store: BlobStore) -> None:
    key = "ten_a/cap_12345678"
    assert not store.exists(key)
    store.put(key, b"\x00sealed bytes")
    assert store.exists(key) and store.get(key) == b"\x00sealed bytes"
    store.put(key, b"replaced")
    assert store.get(key) == b"replaced"
    assert store.delete(key) is True
    assert store.delete(key) is False
    assert not store.exists(key)
    with pytest.raises(BlobNotFound):
        store.get(key)


def test_large_and_empty_blobs(store: BlobStore) -> None:
    big = os.urandom(5000) * 3 + b"end"
    store.put("ten_a/cap_big12345", big)
    assert store.get("ten_a/cap_big12345") == big
    store.put("ten_a/cap_big12345", b"short")  # fewer chunks than before: none left over
    assert store.get("ten_a/cap_big12345") == b"short"
    store.put("ten_a/cap_empty123", b"")
    assert store.exists("ten_a/cap_empty123") and store.get("ten_a/cap_empty123") == b""


def test_keys_are_separate(store: BlobStore) -> None:
    store.put("ten_a/cap_aaaaaaaa", b"a")
    store.put("ten_b/cap_aaaaaaaa", b"b")
    assert store.get("ten_a/cap_aaaaaaaa") == b"a"
    assert store.get("ten_b/cap_aaaaaaaa") == b"b"
    store.delete("ten_a/cap_aaaaaaaa")
    assert store.get("ten_b/cap_aaaaaaaa") == b"b"


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs/path1234", "a/../../x12345678",
                                 "A/B", "ten_a/short"])
def test_refuses_bad_keys(store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.put(key, b"x")
    with pytest.raises(ValueError):
        store.get(key)


def test_database_store_streams_chunks(db_url: str) -> None:
    db = Database(db_url)
    try:
        store = DatabaseBlobStore(db, chunk=4)
        store.put("ten_a/cap_12345678", b"0123456789")
        assert list(store.stream("ten_a/cap_12345678")) == [b"0123", b"4567", b"89"]
        with db.read() as s:
            assert len(list(s.scalars(select(BlobChunk.seq)))) == 3
        assert store.count("ten_a/") == 1
    finally:
        db.dispose()
