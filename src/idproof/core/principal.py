"""The authenticated caller of an API request, shared by every layer that checks scopes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of an API request."""

    client_id: str
    tenant_id: str
    tenant_name: str
    scopes: frozenset[str]
    token_id: str
