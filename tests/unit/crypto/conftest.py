"""Fixtures for the crypto tests: a private SoftHSM2 token and the KeyManager backends."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from idproof.crypto.kms.base import KeyManager
from idproof.crypto.kms.local import LocalKeyManager
from idproof.crypto.kms.pkcs11 import Pkcs11KeyManager
from idproof.crypto.kms.softhsm import SoftHsmToken, find_softhsm, init_token

KeyManagerFactory = Callable[[], KeyManager]
TEST_PASSPHRASE = b"correct horse battery staple"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsmToken]:
    """One initialised SoftHSM2 token per test process; tests isolate by label prefix.

    SoftHSM2 only sees tokens that exist when the library initialises, so one token per
    session (each test uses its own object-label prefix) beats re-initialising per test.
    """
    if find_softhsm() is None:
        msg = ("SoftHSM2 is not installed (softhsm2-util / libsofthsm2.so not found); "
               "install it with: apt-get install -y softhsm2")
        if _in_ci():
            pytest.fail(f"{msg}. It is required when CI is set.", pytrace=False)
        pytest.skip(msg)
    previous = os.environ.get("SOFTHSM2_CONF")
    token = init_token(tmp_path_factory.mktemp("softhsm"), label="idproof-test")
    yield token
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


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
