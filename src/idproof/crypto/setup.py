"""Opening the configured KMS backend and the key store from settings (used by bootstrap)."""

from __future__ import annotations

from pathlib import Path

from idproof.audit.service import AuditService
from idproof.config import Settings
from idproof.core.clock import Clock
from idproof.crypto.dek_cache import DekCache
from idproof.crypto.errors import KeyManagerError
from idproof.crypto.keystore import KeyStore
from idproof.crypto.kms.base import KeyManager
from idproof.crypto.protection import DataProtection

KEYRING_FILE = "keyring.json"


def read_master_passphrase(path: Path) -> bytes:
    """The keyring passphrase from IDPROOF_MASTER_KEY_FILE (surrounding whitespace dropped)."""
    try:
        raw = path.read_bytes().strip()
    except OSError as exc:
        raise KeyManagerError(f"cannot read the master key file {path}: {exc.strerror}") \
            from None
    if not raw:
        raise KeyManagerError(f"the master key file {path} is empty")
    return raw


def open_key_manager(settings: Settings) -> KeyManager:
    """The KEK holder named by IDPROOF_KMS__BACKEND."""
    kms = settings.kms
    if kms.backend == "pkcs11":
        from idproof.crypto.kms.pkcs11 import Pkcs11KeyManager

        if not kms.pkcs11_lib or kms.pkcs11_pin is None:
            raise KeyManagerError("the pkcs11 KMS backend needs IDPROOF_KMS__PKCS11_LIB and "
                                  "IDPROOF_KMS__PKCS11_PIN (or IDPROOF_KMS__PKCS11_PIN_FILE)")
        return Pkcs11KeyManager(kms.pkcs11_lib, kms.pkcs11_token_label,
                                kms.pkcs11_pin.get_secret_value(),
                                label_prefix=kms.pkcs11_label_prefix)
    from idproof.crypto.kms.local import LocalKeyManager

    passphrase = (read_master_passphrase(settings.master_key_file)
                  if settings.master_key_file else None)
    return LocalKeyManager(kms.keyring_path or settings.data_dir / KEYRING_FILE, passphrase)


def open_key_store(settings: Settings) -> KeyStore:
    """The key store (created on first use), refused if it would share the data database."""
    store = KeyStore(settings.key_store_url(), data_url=settings.sqlalchemy_url())
    store.ensure_schema()
    return store


def open_data_protection(settings: Settings, audit: AuditService,
                         clock: Clock | None = None) -> DataProtection:
    kms = open_key_manager(settings)
    try:
        store = open_key_store(settings)
    except BaseException:
        kms.close()
        raise
    cache = DekCache(max_entries=settings.kms.dek_cache_size,
                     ttl_seconds=settings.kms.dek_cache_seconds)
    return DataProtection(store, kms, audit, cache=cache, clock=clock)
