"""Client secret digests: HMAC-SHA256 under a server-side pepper, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac

# Client secrets are 256 random bits, so a fast keyed hash suffices: a slow password hash
# (argon2) protects low-entropy human passwords from guessing, but nobody can enumerate 2^256
# candidates. The pepper (kept out of the database) means a stolen table alone can't even be
# used to test a candidate secret.


class SecretHasher:
    def __init__(self, pepper: bytes) -> None:
        if len(pepper) < 32:
            raise ValueError("pepper must be at least 32 bytes")
        self._pepper = pepper

    def digest(self, secret: str) -> bytes:
        return hmac.new(self._pepper, secret.encode("utf-8"), hashlib.sha256).digest()

    def matches(self, secret: str, digest: bytes) -> bool:
        return hmac.compare_digest(self.digest(secret), digest)
