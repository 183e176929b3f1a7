"""The key store: wrapped subject data keys, in a database kept apart from the personal data.

Why a separate database: crypto-shredding only works for backups if a backup of the data holds
no key. The key store is its own SQLite file (``<data_dir>/keystore.db``, 0600) or its own
PostgreSQL database (or schema, with ``?schema=NAME`` on the URL), with its own metadata and a
small versioned schema instead of the main Alembic chain, so it can be backed up on its own
with a short retention.

A shredded key leaves a tombstone row: the wrapped bytes are gone, but the row remembers the KEK
version that last wrapped it, so `keys status` can tell how many erasures still depend on an old
KEK being retired before backups of this store forget them too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import CursorResult, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from idproof.crypto.errors import KeyStoreError
from idproof.crypto.kms.base import WrappedKey
from idproof.db.base import NAMING, UTCDateTime
from idproof.db.engine import Database

SCHEMA_VERSION = 1
_SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class KeyStoreBase(DeclarativeBase):
    """Separate metadata: the main database's migrations never see these tables."""

    metadata = MetaData(naming_convention=NAMING)


class SubjectKeyRow(KeyStoreBase):
    __tablename__ = "subject_keys"

    subject_key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40), index=True)
    subject_id: Mapped[str] = mapped_column(String(64))
    kek_version: Mapped[int] = mapped_column(Integer, index=True)
    # The DEK wrapped by KEK `kek_version`; NULL once shredded (the row stays as a tombstone).
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (UniqueConstraint("tenant_id", "subject_id"),)


class KeyStoreMeta(KeyStoreBase):
    __tablename__ = "keystore_meta"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


@dataclass(frozen=True, slots=True)
class SubjectKeyRecord:
    key_id: str
    tenant_id: str
    subject_id: str
    kek_version: int
    wrapped: bytes | None
    shredded_at: datetime | None

    @property
    def shredded(self) -> bool:
        return self.shredded_at is not None

    @property
    def wrapped_key(self) -> WrappedKey:
        if self.wrapped is None:
            raise ValueError("a shredded key has no wrapped bytes")
        return WrappedKey(self.kek_version, self.wrapped)


@dataclass(frozen=True, slots=True)
class VersionCount:
    kek_version: int
    live: int
    shredded: int


_SUBJECT_KEYS = cast(Table, SubjectKeyRow.__table__)
_BY_ID = select(SubjectKeyRow.__table__).where(
    SubjectKeyRow.__table__.c.subject_key_id == bindparam("key_id"))


def _record_of(row: Any) -> SubjectKeyRecord:
    """From a Core result row (or an ORM row: both have the column attributes)."""
    return SubjectKeyRecord(row.subject_key_id, row.tenant_id, row.subject_id, row.kek_version,
                            bytes(row.wrapped) if row.wrapped is not None else None,
                            row.shredded_at)


def _record(row: SubjectKeyRow) -> SubjectKeyRecord:
    return SubjectKeyRecord(row.subject_key_id, row.tenant_id, row.subject_id, row.kek_version,
                            bytes(row.wrapped) if row.wrapped is not None else None,
                            row.shredded_at)


def split_schema(url: str) -> tuple[str, str | None]:
    """(URL without our `schema` query parameter, schema name or None)."""
    parsed = make_url(url)
    schema = parsed.query.get("schema")
    if schema is None:
        return url, None
    if isinstance(schema, tuple) or not _SCHEMA_RE.fullmatch(schema):
        raise KeyStoreError("the key store schema must be one lowercase SQL identifier")
    if parsed.get_backend_name() != "postgresql":
        raise KeyStoreError("a key store schema is only supported on PostgreSQL")
    rest = parsed.difference_update_query(["schema"])
    return rest.render_as_string(hide_password=False), schema


class KeyStore:
    """Persistence of wrapped DEKs; every method is one short transaction."""

    def __init__(self, url: str, *, data_url: str | None = None) -> None:
        engine_url, self.schema = split_schema(url)
        if data_url is not None and self.schema is None and \
                make_url(engine_url) == make_url(data_url):
            raise KeyStoreError("the key store must not share the data database: set "
                                "IDPROOF_KEY_DATABASE_URL to another database (or add "
                                "?schema=NAME on PostgreSQL)")
        # hide_parameters: a failed statement must not print wrapped keys into a log.
        # The shared unit of work: reads begin deferred on SQLite, writers queue on its lock.
        self._db = Database(engine_url, schema=self.schema, hide_parameters=True)
        self._base_engine = self._db.base_engine
        self.engine = self._db.engine
        self.dialect = self._db.dialect
        self.session = self._db.session
        self.read = self._db.read

    # -- schema ---------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create the tables on first use and check the schema version (idempotent)."""
        try:
            with self._base_engine.begin() as conn:
                if self.schema:
                    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            with self.engine.begin() as conn:
                KeyStoreBase.metadata.create_all(conn, checkfirst=True)
            with self.session() as s:
                row = s.get(KeyStoreMeta, "schema_version")
                if row is None:
                    s.add(KeyStoreMeta(name="schema_version", value=str(SCHEMA_VERSION)))
                elif int(row.value) > SCHEMA_VERSION:
                    raise KeyStoreError(
                        f"the key store has schema version {row.value}, newer than this "
                        f"idproof ({SCHEMA_VERSION}); upgrade idproof")
                # Older versions would be upgraded here, step by step.
        except IntegrityError:
            # Another process created it at the same moment; its work is as good as ours.
            return
        except SQLAlchemyError as exc:
            raise KeyStoreError(f"cannot prepare the key store: {type(exc).__name__}") from None

    def schema_version(self) -> int | None:
        with self.read() as s:
            row = s.get(KeyStoreMeta, "schema_version")
            return int(row.value) if row else None

    # -- keys -----------------------------------------------------------------------------

    def get(self, key_id: str) -> SubjectKeyRecord | None:
        # Core, not the ORM: this is the DEK cache's miss path and the ORM doubles its cost.
        with self._db.read_engine.connect() as conn:
            row = conn.execute(_BY_ID, {"key_id": key_id}).first()
        return _record_of(row) if row is not None else None

    def find_subject(self, tenant_id: str, subject_id: str) -> SubjectKeyRecord | None:
        with self.read() as s:
            row = s.scalar(select(SubjectKeyRow).where(SubjectKeyRow.tenant_id == tenant_id,
                                                        SubjectKeyRow.subject_id == subject_id))
            return _record(row) if row else None

    def create(self, key_id: str, tenant_id: str, subject_id: str, wrapped: WrappedKey,
               now: datetime) -> SubjectKeyRecord:
        """Insert a key; if the subject got one concurrently, return that one instead."""
        try:
            with self.session() as s:
                row = SubjectKeyRow(subject_key_id=key_id, tenant_id=tenant_id,
                                    subject_id=subject_id, kek_version=wrapped.kek_version,
                                    wrapped=wrapped.blob, created_at=now)
                s.add(row)
                s.flush()
                return _record(row)
        except IntegrityError:
            existing = self.find_subject(tenant_id, subject_id)
            if existing is None:
                raise
            return existing

    def insert_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Bulk insert prepared rows (used by benchmarks and imports)."""
        if not rows:
            return
        with self.session() as s:
            s.execute(_SUBJECT_KEYS.insert(), list(rows))

    def shred(self, key_id: str, now: datetime) -> tuple[SubjectKeyRecord, bool] | None:
        """Destroy the wrapped DEK, keeping a tombstone; (record, destroyed now) or None."""
        with self.session() as s:
            result = cast(CursorResult[Any], s.execute(
                update(SubjectKeyRow)
                .where(SubjectKeyRow.subject_key_id == key_id,
                       SubjectKeyRow.shredded_at.is_(None))
                .values(wrapped=None, shredded_at=now)))
            done = result.rowcount
            row = s.get(SubjectKeyRow, key_id)
            if row is None:
                return None
            return _record(row), bool(done)

    # -- rotation -------------------------------------------------------------------------

    def count_live_not_on(self, version: int) -> int:
        with self.read() as s:
            return int(s.scalar(select(func.count()).select_from(SubjectKeyRow).where(
                SubjectKeyRow.shredded_at.is_(None),
                SubjectKeyRow.kek_version != version)) or 0)

    def count_live_on(self, version: int) -> int:
        with self.read() as s:
            return int(s.scalar(select(func.count()).select_from(SubjectKeyRow).where(
                SubjectKeyRow.shredded_at.is_(None),
                SubjectKeyRow.kek_version == version)) or 0)

    def batch_not_on(self, version: int, *, after: str, limit: int,
                     exclude: Sequence[str] = ()) -> list[SubjectKeyRecord]:
        """Live keys not wrapped under `version`, in key id order after `after`."""
        c = SubjectKeyRow.__table__.c
        stmt = (select(SubjectKeyRow.__table__)
                .where(c.shredded_at.is_(None), c.kek_version != version,
                       c.subject_key_id > after)
                .order_by(c.subject_key_id).limit(limit))
        if exclude:
            stmt = stmt.where(c.subject_key_id.not_in(list(exclude)))
        with self._db.read_engine.connect() as conn:
            return [_record_of(r) for r in conn.execute(stmt)]

    def rewrap(self, changes: Sequence[tuple[str, int, WrappedKey]]) -> None:
        """Store re-wrapped keys: (key id, version it was read under, new wrapping).

        Each row changes only if it is still live and still under the version it was read
        under (compare-and-set), so a concurrent shred or rotation is never overwritten. The
        batch commits as one transaction: a killed process leaves every row either wholly old
        or wholly new, and both unwrap until the old KEK is retired.
        """
        if not changes:
            return
        table = _SUBJECT_KEYS
        stmt = (update(table)
                .where(table.c.subject_key_id == bindparam("k_id"),
                       table.c.kek_version == bindparam("k_old"),
                       table.c.shredded_at.is_(None))
                .values(wrapped=bindparam("k_blob"), kek_version=bindparam("k_new")))
        params = [{"k_id": key_id, "k_old": old, "k_blob": new.blob, "k_new": new.kek_version}
                  for key_id, old, new in changes]
        with self.session() as s:
            s.connection().execute(stmt, params)

    def counts(self) -> list[VersionCount]:
        """Live and shredded keys per KEK version."""
        shredded = SubjectKeyRow.shredded_at.is_not(None)
        stmt = (select(SubjectKeyRow.kek_version, shredded.label("gone"), func.count())
                .group_by(SubjectKeyRow.kek_version, shredded))
        out: dict[int, list[int]] = {}
        with self.read() as s:
            for version, gone, n in s.execute(stmt):
                out.setdefault(int(version), [0, 0])[1 if gone else 0] += int(n)
        return [VersionCount(v, live, dead) for v, (live, dead) in sorted(out.items())]

    def dispose(self) -> None:
        self._base_engine.dispose()
