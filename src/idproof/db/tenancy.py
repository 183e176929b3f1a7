"""Tenant scoping for every query: another tenant's object is simply not found (404, not 403)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from idproof.core.errors import NotFound

T = TypeVar("T")


def scoped(model: type[T], tenant_id: str) -> Select[T]:
    """`SELECT model WHERE model.tenant_id = :tenant_id`, the start of every tenant query."""
    column = model.tenant_id  # type: ignore[attr-defined]
    return select(model).where(column == tenant_id)


def get_owned(session: Session, model: type[T], object_id: Any, tenant_id: str,
              *, code: str = "not_found") -> T:
    """Load by primary key within the tenant; absent and foreign objects look the same."""
    pk = model.__mapper__.primary_key[0]  # type: ignore[attr-defined]
    obj = session.scalar(scoped(model, tenant_id).where(pk == object_id))
    if obj is None:
        raise NotFound("not found", code=code)
    return obj
