"""Fixtures for the crypto tests: the KeyManager backends (SoftHSM2 token: tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from idproof.crypto.kms.base import KeyManager
from idproof.crypto.kms.local import LocalKeyManager
from idproof.crypto.kms.pkcs11 import Pkcs11KeyManager
from idproof.crypto.kms.softhsm import SoftHsmToken

KeyManagerFactory = Callable[[], KeyManager]
TEST_PASSPHRASE = b"correct horse battery staple"


@pytest.fixture
def pkcs11_factory(softhsm_token: SoftHsmToken) -> Iterator[Callable[..., Pkcs11KeyManager]]:
    """Opens Pkcs11KeyManagers on the shared token under a prefix unique to this test."""
    prefix = "t" + uuid.uuid4().hex[:16]
    opened: list[Pkcs11KeyManager] = []

    def make(**kwargs: object) -> Pkcs11KeyManager:
        km = Pkcs11KeyManager(softhsm_token.lib_path, softhsm_token.token_label,
                              softhsm_token.user_pin, label_prefix=prefix, **kwargs)  # type: ignore[arg-type]
        opened.append(km)
        return km

    yield make
    for km in opened:
        km.close()


@pytest.fixture(params=["local", "local-passphrase", "pkcs11"])
def km_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyManagerFactory]:
    """Each call opens a new KeyManager instance on the same storage (file or token)."""
    if request.param == "pkcs11":
        yield request.getfixturevalue("pkcs11_factory")
        return
    path = tmp_path / "data" / "keyring.json"
    passphrase = TEST_PASSPHRASE if request.param == "local-passphrase" else None
    yield lambda: LocalKeyManager(path, passphrase)
