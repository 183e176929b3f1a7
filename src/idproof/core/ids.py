"""Random, prefixed, URL-safe identifiers (no meaning, no ordering leaks beyond time)."""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def random_token(nbytes: int = 32) -> str:
    """A URL-safe secret with `nbytes` of entropy."""
    return secrets.token_urlsafe(nbytes)


def new_id(prefix: str, length: int = 24) -> str:
    """`prefix_` followed by `length` random base36 characters (~124 bits for 24)."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(length))
    return f"{prefix}_{body}"
