"""One-time recovery codes: generation, normalisation and keyed digests (constant-time match)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

COUNT = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
_GROUP = 5


def generate(count: int = COUNT) -> list[str]:
    """`count` codes like `k7m2p-q9x4z` (50 random bits each)."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(2 * _GROUP))
        codes.append(f"{raw[:_GROUP]}-{raw[_GROUP:]}")
    return codes


def normalize(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def looks_like_recovery_code(code: str) -> bool:
    n = normalize(code)
    return len(n) == 2 * _GROUP and all(ch in _ALPHABET for ch in n)


def digest(pepper: bytes, code: str) -> str:
    return hmac.new(pepper, normalize(code).encode(), hashlib.sha256).hexdigest()


def find(pepper: bytes, code: str, stored: dict[str, str]) -> str | None:
    """The id of the stored digest `code` matches (`stored`: id -> digest), else None."""
    candidate = digest(pepper, code)
    found = None
    for code_id, value in stored.items():
        if hmac.compare_digest(candidate, value) and found is None:
            found = code_id
    return found
