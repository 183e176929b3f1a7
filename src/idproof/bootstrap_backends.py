"""Every backend chosen from settings, for the composition root (`bootstrap.py`) only: the KMS
(`IDPROOF_KMS__BACKEND`), the key store, the blob store (`IDPROOF_BLOBS__BACKEND`) and the job
queues' storage (Redis when `IDPROOF_REDIS_URL` is set, else SQLite in the data dir)."""

from __future__ import annotations

from pathlib import Path

from huey import Huey, RedisHuey, SqliteHuey

from idproof.audit.service import AuditService
from idproof.config import Settings
from idproof.core.clock import Clock
from idproof.crypto.dek_cache import DekCache
from idproof.crypto.errors import KeyManagerError
from idproof.crypto.keystore import KeyStore
from idproof.crypto.kms.base import KeyManager
from idproof.crypto.protection import DataProtection
from idproof.db.engine import Database
from idproof.verification.blobs import BlobStore, LocalBlobStore

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


def open_blob_store(settings: Settings, db: Database) -> BlobStore:
    """The store of sealed captures named by IDPROOF_BLOBS__BACKEND (it sees ciphertext)."""
    cfg = settings.blobs
    if cfg.backend == "database":
        from idproof.verification.blobs_sql import DatabaseBlobStore

        return DatabaseBlobStore(db)
    if cfg.backend == "s3":
        from idproof.verification.blobs_s3 import S3BlobStore

        if not cfg.s3_bucket:
            raise SystemExit("the s3 blob backend needs IDPROOF_BLOBS__S3_BUCKET")
        return S3BlobStore(
            cfg.s3_bucket, endpoint_url=cfg.s3_endpoint_url, region=cfg.s3_region,
            access_key_id=cfg.s3_access_key_id,
            secret_access_key=(cfg.s3_secret_access_key.get_secret_value()
                               if cfg.s3_secret_access_key else None),
            prefix=cfg.s3_prefix)
    return LocalBlobStore(cfg.path or settings.data_dir / "blobs")


def make_huey(settings: Settings, *, immediate: bool = False, suffix: str = "") -> Huey:
    """The queue named `jobs.queue_name` + `suffix`, in Redis when configured, else in the
    data dir's SQLite file (several queues share it, one name each)."""
    name = settings.jobs.queue_name + suffix
    if settings.redis_url is not None:
        return RedisHuey(name, url=settings.redis_url.get_secret_value(),
                         results=False, immediate=immediate, utc=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return SqliteHuey(name, filename=str(settings.data_dir / "queue.db"),
                      results=False, immediate=immediate, utc=True)
