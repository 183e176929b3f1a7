"""KMS selection from settings: local keyring (with a master passphrase file) and PKCS#11."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from idproof.bootstrap_backends import open_key_manager, open_key_store
from idproof.config import KmsSettings, Settings, VaultSettings, load_settings
from idproof.crypto.errors import KeyManagerError, KeyringPassphraseError, KeyStoreError
from idproof.crypto.keystore import KeyStore, split_schema
from idproof.crypto.kms.local import LocalKeyManager
from idproof.crypto.kms.softhsm import SoftHsmToken
from idproof.security.rate_limit import RateLimiter
from tests.conftest import UNAVAILABLE, unavailable


def test_local_keyring_in_the_data_dir(tmp_path: Path) -> None:
    km = open_key_manager(Settings(data_dir=tmp_path / "data"))
    assert isinstance(km, LocalKeyManager)
    path = tmp_path / "data" / "keyring.json"
    assert km.path == path and path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["protection"] == "none"


def test_master_key_file_seals_the_keyring(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "master.key"
    secret.write_text("a long passphrase for the keyring\n")
    monkeypatch.setenv("IDPROOF_MASTER_KEY_FILE", str(secret))
    monkeypatch.setenv("IDPROOF_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    assert settings.master_key_file == secret
    km = open_key_manager(settings)
    wrapped = km.wrap(os.urandom(32))
    doc = json.loads((tmp_path / "data" / "keyring.json").read_text())
    assert doc["protection"] == "scrypt-aes256gcm" and "keyring" not in doc
    # Reopened with the same file it works; without it, it is refused.
    assert len(open_key_manager(load_settings()).unwrap(wrapped)) == 32
    monkeypatch.delenv("IDPROOF_MASTER_KEY_FILE")
    with pytest.raises(KeyringPassphraseError):
        open_key_manager(load_settings())
    secret.write_text("   \n")
    with pytest.raises(KeyManagerError, match="empty"):
        open_key_manager(Settings(data_dir=tmp_path / "data", master_key_file=secret))


def test_pkcs11_backend_from_settings(softhsm_token: SoftHsmToken, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pin = tmp_path / "pin"
    pin.write_text(softhsm_token.user_pin + "\n")
    monkeypatch.setenv("IDPROOF_KMS__BACKEND", "pkcs11")
    monkeypatch.setenv("IDPROOF_KMS__PKCS11_LIB", softhsm_token.lib_path)
    monkeypatch.setenv("IDPROOF_KMS__PKCS11_TOKEN_LABEL", softhsm_token.token_label)
    monkeypatch.setenv("IDPROOF_KMS__PKCS11_PIN_FILE", str(pin))
    monkeypatch.setenv("IDPROOF_KMS__PKCS11_LABEL_PREFIX", "s" + uuid.uuid4().hex[:12])
    settings = load_settings(data_dir=tmp_path / "data")
    assert settings.kms.pkcs11_pin is not None
    km = open_key_manager(settings)
    try:
        dek = os.urandom(32)
        assert km.unwrap(km.wrap(dek)) == dek
        assert km.current_version() == 1
    finally:
        km.close()
    assert not (tmp_path / "data" / "keyring.json").exists()


def test_pkcs11_needs_library_and_pin(tmp_path: Path) -> None:
    with pytest.raises(KeyManagerError, match="PKCS11_LIB"):
        open_key_manager(Settings(data_dir=tmp_path, kms=KmsSettings(backend="pkcs11")))


def test_key_store_url_rules(tmp_path: Path) -> None:
    url = "postgresql+psycopg://u@h/db?schema=idproof_keys"
    assert split_schema(url) == ("postgresql+psycopg://u@h/db", "idproof_keys")
    with pytest.raises(KeyStoreError):
        split_schema("postgresql+psycopg://u@h/db?schema=Bad-Name")
    with pytest.raises(KeyStoreError):
        split_schema(f"sqlite:///{tmp_path}/k.db?schema=x")
    same = f"sqlite:///{tmp_path}/data.db"
    with pytest.raises(KeyStoreError, match="must not share"):
        open_key_store(Settings(data_dir=tmp_path, database_url=same, key_database_url=same))
    store = open_key_store(Settings(data_dir=tmp_path))
    try:
        assert store.schema_version() == 1
        store.ensure_schema()  # idempotent
    finally:
        store.dispose()
    with pytest.raises(ValueError):
        VaultSettings(detokenize_rate_limit="lots")


def test_newer_key_store_schema_is_refused(tmp_path: Path) -> None:
    store = KeyStore(f"sqlite:///{tmp_path / 'k.db'}")
    store.ensure_schema()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE keystore_meta SET value = '99'")
    with pytest.raises(KeyStoreError, match="newer"):
        store.ensure_schema()
    store.dispose()


@pytest.mark.redis
def test_rate_limiter_on_redis() -> None:
    url = os.environ.get("IDPROOF_TEST_REDIS_URL")
    if not url:
        unavailable(UNAVAILABLE["redis"]())
    a, b = RateLimiter(url), RateLimiter(url)  # two replicas sharing counters
    key = "cli_" + uuid.uuid4().hex
    assert a.hit("vault-detokenize", "3/minute", key) is None
    assert b.hit("vault-detokenize", "3/minute", key) is None
    assert a.hit("vault-detokenize", "3/minute", key) is None
    retry = b.hit("vault-detokenize", "3/minute", key)
    assert retry is not None and 1 <= retry <= 60
    a.clear("vault-detokenize", "3/minute", key)
