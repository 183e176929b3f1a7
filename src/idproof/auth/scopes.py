"""The OAuth2 scopes idproof knows; clients get only what they are granted (least privilege)."""

from __future__ import annotations

KNOWN_SCOPES: frozenset[str] = frozenset({
    "identity.verify",
    "identity.read_status",
    "identity.read_pii",
    "identity.delete",
    "identity.review",
    "analytics.read",
    "vault.detokenize",
    "webhooks.manage",
    "workflows.manage",
    "audit.read",
    "privacy.manage",
    "screening.search",
    "branding.manage",
})


def parse_scopes(value: str | list[str] | tuple[str, ...]) -> list[str]:
    """Split an OAuth2 scope string, refusing unknown scopes; keeps the given order, no dupes."""
    items = value.split() if isinstance(value, str) else [s for v in value for s in v.split()]
    unknown = sorted(set(items) - KNOWN_SCOPES)
    if unknown:
        raise ValueError(f"unknown scope(s): {' '.join(unknown)}")
    return list(dict.fromkeys(items))
