"""Opening the blob store named by settings (`IDPROOF_BLOBS__BACKEND`); used by bootstrap."""

from __future__ import annotations

from idproof.config import Settings
from idproof.db.engine import Database
from idproof.verification.blobs import BlobStore, LocalBlobStore


def open_blob_store(settings: Settings, db: Database) -> BlobStore:
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
