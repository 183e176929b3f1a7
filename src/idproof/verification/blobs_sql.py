"""A blob store in the database (PostgreSQL in production): sealed bytes in chunked rows.

Several machines share it without a shared disk. Bytes are written and read in chunks of
`CHUNK` so neither side holds one huge value in a single row or statement parameter.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from sqlalchemy import CursorResult, Integer, LargeBinary, String, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from idproof.db.base import Base
from idproof.db.engine import Database
from idproof.verification.blobs import BlobNotFound, check_key

CHUNK = 1 << 20  # 1 MiB per row


class BlobChunk(Base):
    """One chunk of one sealed blob (ciphertext only)."""

    __tablename__ = "blob_chunks"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class DatabaseBlobStore:
    """`BlobStore` over the `blob_chunks` table; a put replaces the blob atomically."""

    def __init__(self, db: Database, chunk: int = CHUNK) -> None:
        self._db = db
        self._chunk = chunk

    def put(self, key: str, data: bytes) -> None:
        check_key(key)
        with self._db.session() as s:
            s.execute(delete(BlobChunk).where(BlobChunk.key == key))
            # A zero-length blob still has one (empty) chunk, so that it exists.
            for seq, start in enumerate(range(0, max(len(data), 1), self._chunk)):
                s.add(BlobChunk(key=key, seq=seq, data=data[start:start + self._chunk]))

    def stream(self, key: str) -> Iterator[bytes]:
        """The blob's chunks in order, one row fetched at a time."""
        check_key(key)
        with self._db.read() as s:
            count = s.scalar(select(func.count()).select_from(BlobChunk)
                             .where(BlobChunk.key == key)) or 0
            if not count:
                raise BlobNotFound(key)
            for seq in range(count):
                chunk = s.scalar(select(BlobChunk.data).where(BlobChunk.key == key,
                                                               BlobChunk.seq == seq))
                if chunk is None:  # deleted while streaming
                    raise BlobNotFound(key)
                yield chunk

    def get(self, key: str) -> bytes:
        return b"".join(self.stream(key))

    def delete(self, key: str) -> bool:
        check_key(key)
        with self._db.session() as s:
            result = cast(CursorResult[Any],
                          s.execute(delete(BlobChunk).where(BlobChunk.key == key)))
            return bool(result.rowcount)

    def exists(self, key: str) -> bool:
        check_key(key)
        with self._db.read() as s:
            return s.scalar(select(BlobChunk.seq).where(BlobChunk.key == key).limit(1)) \
                is not None

    def count(self, prefix: str = "") -> int:
        """Blobs stored (under `prefix`): for the residency report."""
        with self._db.read() as s:
            return s.scalar(select(func.count()).select_from(BlobChunk).where(
                BlobChunk.seq == 0, BlobChunk.key.startswith(prefix))) or 0
