"""A blob store on S3 or an S3-compatible service (MinIO, Ceph, ...), through boto3.

Objects hold ciphertext only; reads stream the body in chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from idproof.verification.blobs import BlobNotFound, check_key

CHUNK = 1 << 20


def _missing(exc: Exception) -> bool:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}


class S3BlobStore:
    """`BlobStore` over one bucket (and an optional key prefix)."""

    def __init__(self, bucket: str, *, endpoint_url: str | None = None,
                 region: str | None = None, access_key_id: str | None = None,
                 secret_access_key: str | None = None, prefix: str = "",
                 client: Any | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix
        self._client = client or boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1",
            aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key,
            config=Config(retries={"max_attempts": 5, "mode": "standard"},
                          s3={"addressing_style": "path"}))

    @classmethod
    def from_url(cls, url: str) -> S3BlobStore:
        """`http(s)://KEY:SECRET@host:port/bucket[/prefix]?region=...` (tests, quick setups)."""
        parts = urlsplit(url)
        bucket, _, prefix = parts.path.lstrip("/").partition("/")
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        region = parse_qs(parts.query).get("region", [None])[0]
        return cls(bucket, endpoint_url=f"{parts.scheme}://{netloc}", region=region,
                   access_key_id=unquote(parts.username or "") or None,
                   secret_access_key=unquote(parts.password or "") or None,
                   prefix=prefix.rstrip("/") + "/" if prefix else "")

    def _key(self, key: str) -> str:
        check_key(key)
        return self.prefix + key

    def put(self, key: str, data: bytes) -> None:
        self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data,
                                ContentType="application/octet-stream")

    def stream(self, key: str) -> Iterator[bytes]:
        from botocore.exceptions import ClientError

        try:
            body = self._client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as exc:
            if _missing(exc):
                raise BlobNotFound(key) from None
            raise
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    def get(self, key: str) -> bytes:
        return b"".join(self.stream(key))

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _missing(exc):
                return False
            raise
        return True

    def delete(self, key: str) -> bool:
        # S3 deletes are idempotent and do not say whether the object was there: ask first.
        found = self.exists(key)
        if found:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        return found

    def count(self, prefix: str = "") -> int:
        """Objects stored under `prefix` (for the residency report)."""
        paginator = self._client.get_paginator("list_objects_v2")
        return sum(page.get("KeyCount", 0) for page in paginator.paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix))
