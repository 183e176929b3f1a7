"""Random, prefixed, URL-safe identifiers (no meaning, no ordering leaks beyond time)."""

from __future__ import annotations

import math
import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
# Letters and digits only: a secret sent in a form or a URL never holds `--`, `/*` or
# another sequence a web application firewall reads as SQL or a path (the CRS gateway refused
# a client secret from token_urlsafe that happened to contain `--`).
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def random_token(nbytes: int = 32) -> str:
    """A secret of letters and digits with `nbytes` of entropy (fixed length for a given size)."""
    value = int.from_bytes(secrets.token_bytes(nbytes), "big")
    width = math.ceil(nbytes * 8 / math.log2(62))
    out = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        out.append(_BASE62[digit])
    return "".join(out)


def new_id(prefix: str, length: int = 24) -> str:
    """`prefix_` followed by `length` random base36 characters (~124 bits for 24)."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(length))
    return f"{prefix}_{body}"
