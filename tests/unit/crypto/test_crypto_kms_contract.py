"""Contract suite every KeyManager backend must pass (local keyring, PKCS#11 on SoftHSM2)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pytest

from idproof.crypto.blind_index import BlindIndexer
from idproof.crypto.errors import KekUnavailableError, KeyManagerError, UnwrapError
from idproof.crypto.kms.base import KeyManager, WrappedKey
from idproof.crypto.kms.local import LocalKeyManager

KeyManagerFactory = Callable[[], KeyManager]


def test_satisfies_protocol(km_factory: KeyManagerFactory) -> None:
    assert isinstance(km_factory(), KeyManager)


def test_wrap_unwrap_round_trip(km_factory: KeyManagerFactory) -> None:
    km = km_factory()
    dek = os.urandom(32)
    wrapped = km.wrap(dek)
    assert wrapped.kek_version == km.current_version()
    assert dek not in wrapped.blob
    assert km.unwrap(wrapped) == dek


@pytest.mark.parametrize("size", [1, 16, 32, 64, 1024])
def test_round_trip_sizes(km_factory: KeyManagerFactory, size: int) -> None:
    km = km_factory()
    secret = os.urandom(size)
    assert km.unwrap(km.wrap(secret)) == secret


@pytest.mark.parametrize("bad", [b"", b"x" * 1025])
def test_wrap_refuses_bad_sizes(km_factory: KeyManagerFactory, bad: bytes) -> None:
    with pytest.raises(ValueError):
        km_factory().wrap(bad)


def test_wraps_are_randomised(km_factory: KeyManagerFactory) -> None:
    km = km_factory()
    dek = os.urandom(32)
    assert km.wrap(dek).blob != km.wrap(dek).blob


def test_rotate_new_version_old_still_unwraps(km_factory: KeyManagerFactory) -> None:
    km = km_factory()
    v1 = km.current_version()
    dek_old = os.urandom(32)
    old = km.wrap(dek_old)
    v2 = km.rotate()
    assert v2 > v1
    assert km.current_version() == v2
    new = km.wrap(os.urandom(32))
    assert new.kek_version == v2
    assert km.unwrap(old) == dek_old
    infos = {i.version: i for i in km.versions()}
    assert set(infos) == {v1, v2}
    assert not infos[v1].retired and not infos[v2].retired
    assert infos[v1].created <= infos[v2].created


def test_retire_makes_old_wrapped_keys_fail_clearly(km_factory: KeyManagerFactory) -> None:
    km = km_factory()
    v1 = km.current_version()
    old = km.wrap(os.urandom(32))
    v2 = km.rotate()
    fresh_dek = os.urandom(32)
    fresh = km.wrap(fresh_dek)
    km.retire(v1)
    with pytest.raises(KekUnavailableError) as err:
        km.unwrap(old)
    assert err.value.version == v1
    assert err.value.retired
    assert f"version {v1}" in str(err.value) and "retired" in str(err.value)
    assert km.unwrap(fresh) == fresh_dek
    infos = {i.version: i for i in km.versions()}
    assert infos[v1].retired and infos[v1].retired_at is not None
    assert not infos[v2].retired
    km.retire(v1)  # idempotent


def test_cannot_retire_current_or_unknown(km_factory: KeyManagerFactory) -> None:
    km = km_factory()
    with pytest.raises(KeyManagerError, match="current"):
        km.retire(km.current_version())
    with pytest.raises(KekUnavailableError):
        km.retire(999)


def test_unknown_version_is_refused(km_factory: KeyManagerFactory) -> None:
    km = km_factory()
    wrapped = km.wrap(os.urandom(32))
    with pytest.raises(KekUnavailableError) as err:
        km.unwrap(WrappedKey(wrapped.kek_version + 41, wrapped.blob))
    assert not err.value.retired


def test_tampered_blob_refused_at_every_byte(km_factory: KeyManagerFactory) -> None:
    km = km_factory()
    wrapped = km.wrap(os.urandom(32))
    for i in range(len(wrapped.blob)):
        bad = bytearray(wrapped.blob)
        bad[i] ^= 0x01
        with pytest.raises(UnwrapError) as err:
            km.unwrap(WrappedKey(wrapped.kek_version, bytes(bad)))
        assert f"version {wrapped.kek_version}" in str(err.value)


def test_truncated_or_extended_blob_refused(km_factory: KeyManagerFactory) -> None:
    km = km_factory()
    wrapped = km.wrap(os.urandom(32))
    for n in range(len(wrapped.blob)):
        with pytest.raises(UnwrapError):
            km.unwrap(WrappedKey(wrapped.kek_version, wrapped.blob[:n]))
    with pytest.raises(UnwrapError):
        km.unwrap(WrappedKey(wrapped.kek_version, wrapped.blob + b"\x00"))


def test_version_number_is_authenticated(km_factory: KeyManagerFactory) -> None:
    km = km_factory()
    v1 = km.current_version()
    km.rotate()
    wrapped = km.wrap(os.urandom(32))
    # Relabel a v2 blob as v1: different KEK and different AAD, must not unwrap.
    with pytest.raises(UnwrapError):
        km.unwrap(WrappedKey(v1, wrapped.blob))


def test_persistence_across_reopen(km_factory: KeyManagerFactory) -> None:
    km = km_factory()
    v1 = km.current_version()
    d1 = os.urandom(32)
    w1 = km.wrap(d1)
    v2 = km.rotate()
    d2 = os.urandom(32)
    w2 = km.wrap(d2)
    v3 = km.rotate()
    km.retire(v1)
    before = km.versions()
    km.close()

    again = km_factory()
    assert again.current_version() == v3
    assert again.versions() == before
    assert again.unwrap(w2) == d2
    with pytest.raises(KekUnavailableError):
        again.unwrap(w1)
    assert again.wrap(d1).kek_version == v3
    assert v2 in {i.version for i in again.versions() if not i.retired}


def test_second_instance_sees_rotation(km_factory: KeyManagerFactory) -> None:
    a = km_factory()
    b = km_factory()
    a.rotate()
    dek = os.urandom(32)
    wrapped = a.wrap(dek)
    assert b.unwrap(wrapped) == dek
    assert b.current_version() == a.current_version()


def test_derive_secret_stable_distinct_and_rotation_proof(km_factory: KeyManagerFactory) -> None:
    km = km_factory()
    s1 = km.derive_secret(b"blind-index")
    assert len(s1) == 32
    assert km.derive_secret(b"blind-index") == s1
    assert km.derive_secret(b"other-label") != s1
    assert km.derive_secret(b"blind-index/x") != s1
    index_before = BlindIndexer.from_key_manager(km).compute("ten_1", "passport_number", "X1")
    v1 = km.current_version()
    km.rotate()
    km.retire(v1)
    assert km.derive_secret(b"blind-index") == s1
    km.close()
    again = km_factory()
    assert again.derive_secret(b"blind-index") == s1
    assert BlindIndexer.from_key_manager(again).compute("ten_1", "passport_number",
                                                        "X1") == index_before


@pytest.mark.parametrize("label", [b"", b"x" * 129, b"bad label", "str"])
def test_derive_secret_rejects_bad_labels(km_factory: KeyManagerFactory, label: object) -> None:
    with pytest.raises(ValueError):
        km_factory().derive_secret(label)  # type: ignore[arg-type]


def test_storages_are_independent(km_factory: KeyManagerFactory, tmp_path) -> None:
    """A blob wrapped by one key manager does not unwrap in another (different KEKs)."""
    km = km_factory()
    other = LocalKeyManager(tmp_path / "elsewhere" / "keyring.json")
    wrapped = other.wrap(os.urandom(32))
    assert wrapped.kek_version == km.current_version() == 1
    with pytest.raises(UnwrapError):
        km.unwrap(wrapped)
    assert other.derive_secret(b"blind-index") != km.derive_secret(b"blind-index")


def test_threads_share_one_instance_while_rotating(km_factory: KeyManagerFactory) -> None:
    km = km_factory()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(100):
                dek = os.urandom(32)
                assert km.unwrap(km.wrap(dek)) == dek
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    km.rotate()
    for t in threads:
        t.join()
    assert not errors
