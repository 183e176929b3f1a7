"""The blob store contract, run against every implementation (today: the local folder)."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from idproof.verification.blobs import BlobNotFound, BlobStore, LocalBlobStore

STORES: dict[str, Callable[[Path], BlobStore]] = {"local": lambda p: LocalBlobStore(p / "b")}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return STORES[request.param](tmp_path)


def test_round_trip_and_delete(store: BlobStore) -> None:
    store.put("ten_a/cap_12345678", b"\x00sealed bytes")
    assert store.exists("ten_a/cap_12345678")
    assert store.get("ten_a/cap_12345678") == b"\x00sealed bytes"
    store.put("ten_a/cap_12345678", b"replaced")
    assert store.get("ten_a/cap_12345678") == b"replaced"
    assert store.delete("ten_a/cap_12345678") is True
    assert store.delete("ten_a/cap_12345678") is False
    assert not store.exists("ten_a/cap_12345678")
    with pytest.raises(BlobNotFound):
        store.get("ten_a/cap_12345678")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs/path1234", "a/../../x12345678", "A/B",
                                 "ten_a/short"])
def test_refuses_bad_keys(store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.put(key, b"x")


def test_local_files_are_private(tmp_path: Path) -> None:
    s = LocalBlobStore(tmp_path / "blobs")
    s.put("ten_a/cap_12345678", b"x")
    assert stat.S_IMODE((tmp_path / "blobs").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "blobs" / "ten_a" / "cap_12345678").stat().st_mode) == 0o600
