"""Encrypted ORM fields: `ssn = Encrypted()` on a model, and plaintext never reaches SQL.

A model declares a personal-data field in one line::

    class Person(Base):
        __tablename__ = "people"
        id: Mapped[str] = mapped_column(String(40), primary_key=True)
        tenant_id: Mapped[str] = ...
        subject_key_id: Mapped[str] = ...
        document_number = Encrypted(as_text=True)

That adds a LargeBinary column (named like the field) holding the sealed envelope, bound by AAD
to (tenant_id, table, column, row id) and sealed under the row's subject key. Assigning the
attribute seals at once when the row is in a session bound to a `DataProtection` (see
`bind_protection`) and knows its tenant, id and key; otherwise the plaintext waits in the object
(never in a column attribute) and is sealed by the session's before-flush hook. Reading it
decrypts through the bound session. The column type refuses anything that is not a sealed
envelope, so a forgotten seal fails loudly instead of writing plaintext; engines use
`hide_parameters` so such an error never prints the value.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import LargeBinary, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, mapped_column, object_session
from sqlalchemy.types import TypeDecorator

from idproof.crypto.envelope import peek_key_id
from idproof.crypto.errors import DecryptionError

PROTECTION_KEY = "idproof.data_protection"


class FieldProtection(Protocol):
    """What an encrypted field needs from `DataProtection`."""

    def encrypt(self, tenant_id: str, table: str, column: str, row_id: str,
                subject_key_id: str, plaintext: bytes | str) -> bytes: ...

    def decrypt(self, tenant_id: str, table: str, column: str, row_id: str,
                subject_key_id: str | None, blob: bytes) -> bytes: ...


class _Unsealed:
    """Placeholder in the column attribute while the plaintext waits for the flush hook."""

    def __repr__(self) -> str:
        return "<unsealed>"


UNSEALED = _Unsealed()


class SealedBytes(TypeDecorator[bytes]):
    """LargeBinary that only accepts sealed envelopes (a guard against writing plaintext)."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if value is UNSEALED:
            raise TypeError("an encrypted field was never sealed: bind a DataProtection to "
                            "the session (idproof.crypto.fields.bind_protection)")
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError("an encrypted column takes sealed bytes only")
        try:
            peek_key_id(bytes(value))
        except DecryptionError:
            raise TypeError("refusing to write bytes that are not a sealed envelope into an "
                            "encrypted column") from None
        return bytes(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> bytes | None:
        return bytes(value) if value is not None else None


def bind_protection(session: Session, protection: FieldProtection) -> Session:
    """Let `Encrypted` fields of objects in `session` seal and open through `protection`."""
    if session.info.get(PROTECTION_KEY) is None:
        event.listen(session, "before_flush", _seal_pending)
    session.info[PROTECTION_KEY] = protection
    return session


def _protection_of(obj: Any) -> FieldProtection | None:
    session = object_session(obj)
    return session.info.get(PROTECTION_KEY) if session is not None else None


def _seal_pending(session: Session, _ctx: Any, _instances: Any) -> None:
    protection = session.info[PROTECTION_KEY]
    for obj in [*session.new, *session.dirty]:
        for field in getattr(type(obj), "__encrypted_fields__", ()):
            field.seal_pending(obj, protection)


class Encrypted:
    """Descriptor declaring an encrypted field; see the module docstring."""

    def __init__(self, *, column: str | None = None, nullable: bool = True,
                 as_text: bool = False, tenant_attr: str = "tenant_id",
                 row_id_attr: str = "id", key_attr: str = "subject_key_id") -> None:
        self._column = column
        self._nullable = nullable
        self.as_text = as_text
        self.tenant_attr = tenant_attr
        self.row_id_attr = row_id_attr
        self.key_attr = key_attr

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.column = self._column or name
        self.table: str = owner.__dict__["__tablename__"]
        self.sealed_attr = f"{name}_sealed"
        self._pending = f"_{name}_plaintext"
        # Runs before declarative maps the class, so the column is mapped like any other.
        setattr(owner, self.sealed_attr,
                mapped_column(self.column, SealedBytes(), nullable=self._nullable))
        owner.__encrypted_fields__ = (*owner.__dict__.get("__encrypted_fields__", ()), self)  # type: ignore[attr-defined]

    def _context(self, obj: Any) -> tuple[str, str, str] | None:
        values = (getattr(obj, self.tenant_attr, None), getattr(obj, self.row_id_attr, None),
                  getattr(obj, self.key_attr, None))
        if any(v is None for v in values):
            return None
        return (str(values[0]), str(values[1]), str(values[2]))

    def _seal(self, obj: Any, protection: FieldProtection, data: bytes) -> None:
        ctx = self._context(obj)
        if ctx is None:
            raise ValueError(f"{type(obj).__name__}.{self.name}: set {self.tenant_attr}, "
                             f"{self.row_id_attr} and {self.key_attr} before sealing")
        tenant_id, row_id, key_id = ctx
        setattr(obj, self.sealed_attr,
                protection.encrypt(tenant_id, self.table, self.column, row_id, key_id, data))
        obj.__dict__.pop(self._pending, None)

    def seal_pending(self, obj: Any, protection: FieldProtection) -> None:
        data = obj.__dict__.get(self._pending)
        if data is not None:
            self._seal(obj, protection, data)

    def __set__(self, obj: Any, value: bytes | str | None) -> None:
        if value is None:
            obj.__dict__.pop(self._pending, None)
            setattr(obj, self.sealed_attr, None)
            return
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        protection = _protection_of(obj)
        if protection is not None and self._context(obj) is not None:
            self._seal(obj, protection, data)
            return
        obj.__dict__[self._pending] = data
        setattr(obj, self.sealed_attr, UNSEALED)  # marks the row dirty for the flush hook

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        pending = obj.__dict__.get(self._pending)
        if pending is not None:
            return pending.decode("utf-8") if self.as_text else pending
        protection = _protection_of(obj)
        if protection is None:
            if getattr(obj, self.sealed_attr) is None:
                return None
            raise RuntimeError(f"{type(obj).__name__}.{self.name} is encrypted: read it in a "
                               "session bound to a DataProtection, or with .read()")
        return self.read(obj, protection)

    def read(self, obj: Any, protection: FieldProtection) -> bytes | str | None:
        """Decrypt this field of `obj` with an explicit `protection` (detached objects)."""
        blob = getattr(obj, self.sealed_attr)
        if blob is None:
            return None
        ctx = self._context(obj)
        if ctx is None:
            raise ValueError(f"{type(obj).__name__}.{self.name}: row context is incomplete")
        tenant_id, row_id, key_id = ctx
        data = protection.decrypt(tenant_id, self.table, self.column, row_id, key_id, blob)
        return data.decode("utf-8") if self.as_text else data
