"""KEK rotation: re-wrap in batches, survive a crash at any point, refuse unsafe retirement."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from idproof.bootstrap import Container
from idproof.crypto.errors import KekInUseError, KekUnavailableError
from idproof.crypto.keystore import KeyStore
from idproof.crypto.kms.base import KeyManager, WrappedKey
from idproof.crypto.kms.local import LocalKeyManager
from idproof.crypto.protection import DataProtection


class Crash(Exception):
    pass


class CrashingKms:
    """Delegates to a real KeyManager, dying after `wraps_left` wraps (a killed process)."""

    def __init__(self, inner: KeyManager, wraps_left: int) -> None:
        self.inner = inner
        self.wraps_left = wraps_left
        self.rotations = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def rotate(self) -> int:
        self.rotations += 1
        return self.inner.rotate()

    def wrap(self, dek: bytes) -> WrappedKey:
        if self.wraps_left <= 0:
            raise Crash
        self.wraps_left -= 1
        return self.inner.wrap(dek)


@pytest.fixture(params=["local", "pkcs11"])
def kms(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyManager]:
    if request.param == "local":
        yield LocalKeyManager(tmp_path / "rot" / "keyring.json")
        return
    token = request.getfixturevalue("softhsm_token")
    from idproof.crypto.kms.pkcs11 import Pkcs11KeyManager

    km = Pkcs11KeyManager(token.lib_path, token.token_label, token.user_pin,
                          label_prefix="r" + uuid.uuid4().hex[:12])
    yield km
    km.close()


@pytest.fixture
def protection(container: Container, kms: KeyManager, tmp_path: Path
               ) -> Iterator[DataProtection]:
    store = KeyStore(f"sqlite:///{tmp_path / 'rot' / 'keystore.db'}")
    store.ensure_schema()
    p = DataProtection(store, kms, container.audit)
    yield p
    store.dispose()


def _people(p: DataProtection, tenant: str, n: int) -> dict[str, tuple[str, bytes]]:
    out = {}
    for i in range(n):
        key = p.subject_key(tenant, f"sub_{i}")
        out[key] = (f"row_{i}", p.encrypt(tenant, "people", "name", f"row_{i}", key,
                                          f"person {i}"))
    return out


def _all_readable(p: DataProtection, tenant: str, data: dict[str, tuple[str, bytes]]) -> None:
    p.clear_cache()  # unwrap every key from the store, as a fresh process would
    for i, (key, (row, blob)) in enumerate(sorted(data.items(), key=lambda kv: kv[1][0])):
        assert p.decrypt(tenant, "people", "name", row, key, blob).startswith(b"person ")
    assert i == len(data) - 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_rotation_survives_a_crash_mid_way_and_resumes(container: Container,
                                                       protection: DataProtection) -> None:
    t = container.tenants.ensure("demo").id
    data = _people(protection, t, 25)
    real = protection.kms
    crashing = CrashingKms(real, wraps_left=9)
    crashed = DataProtection(protection.store, crashing, container.audit)  # type: ignore[arg-type]
    seen: list[tuple[int, int]] = []
    with pytest.raises(Crash):
        crashed.rotate_kek(batch_size=4, progress_cb=lambda d, n: seen.append((d, n)))
    assert crashing.rotations == 1 and real.current_version() == 2
    assert seen[0] == (0, 25) and seen[-1] == (8, 25)  # two whole batches committed
    counts = {c.kek_version: c.live for c in protection.store.counts()}
    assert counts == {1: 17, 2: 8}  # the third batch rolled back whole
    _all_readable(protection, t, data)  # reads work mid-rotation, under both versions
    assert protection.status().rotation_pending == 17

    # Killed again right away: the re-run must not rotate the KMS a second time.
    again = CrashingKms(real, wraps_left=0)
    with pytest.raises(Crash):
        DataProtection(protection.store, again, container.audit).rotate_kek(  # type: ignore[arg-type]
            batch_size=4)
    assert again.rotations == 0 and real.current_version() == 2

    result = protection.rotate_kek(batch_size=4)
    assert result.resumed and result.to_version == 2 and result.rewrapped == 17
    assert not result.failed
    assert {c.kek_version: c.live for c in protection.store.counts()} == {2: 25}
    _all_readable(protection, t, data)

    # A later run starts a genuinely new rotation.
    result = protection.rotate_kek(batch_size=100)
    assert not result.resumed and result.to_version == 3 and result.rewrapped == 25
    _all_readable(protection, t, data)
    actions = [e.action for e in container.audit.list(limit=1000)]
    assert actions.count("crypto.kek_rotated") == 2


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_retire_is_refused_while_in_use(container: Container,
                                        protection: DataProtection) -> None:
    t = container.tenants.ensure("demo").id
    data = _people(protection, t, 5)
    with pytest.raises(KekInUseError, match="current"):
        protection.retire(1)
    protection.kms.rotate()  # a rotation started but not re-wrapped
    with pytest.raises(KekInUseError, match="5 data keys"):
        protection.retire(1)
    with pytest.raises(KekInUseError, match="current"):
        protection.retire(2)
    protection.rotate_kek()  # finishes the re-wrap (resumed), no third version
    assert protection.kms.current_version() == 2
    protection.retire(1)
    st = protection.status()
    assert [(v.version, v.retired, v.current, v.live_keys) for v in st.versions] == [
        (1, True, False, 0), (2, False, True, 5)]
    _all_readable(protection, t, data)
    with pytest.raises(KekUnavailableError):
        protection.kms.unwrap(WrappedKey(1, b"\x01" + b"\x00" * 60))
    assert container.audit.list(action="crypto.kek_retired")[0].target_id == "1"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_shred_during_rotation_is_not_undone(container: Container,
                                             protection: DataProtection) -> None:
    t = container.tenants.ensure("demo").id
    _people(protection, t, 6)
    victim = protection.subject_key(t, "sub_3")
    batches = protection.store.batch_not_on(2, after="", limit=100)
    protection.shred(victim)
    # A rotation that read the key before the shred writes it back with compare-and-set:
    protection.store.rewrap([(r.key_id, r.kek_version, WrappedKey(2, r.wrapped or b""))
                             for r in batches])
    rec = protection.store.get(victim)
    assert rec is not None and rec.shredded and rec.wrapped is None
    st = protection.status()
    assert st.shredded_keys == 1 and st.awaiting_retirement == 1
