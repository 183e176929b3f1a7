"""Random, prefixed, URL-safe identifiers (no meaning, no ordering leaks beyond time)."""

from __future__ import annotations

import math
import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
# Letters and digits only: a secret sent in a form or a URL never holds `--`, `/*` or
# another sequence a web application firewall reads as SQL or a path (the CRS gateway refused
# a client secret from token_urlsafe that happened to contain `--`).
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# Each random byte below 248 (4 x 62) names one character, uniformly; the 8 others are
# dropped and drawn again. bytes.translate does the mapping in C: a request id, a token's
# jti and an audit id are drawn on every request, and a Python loop of big-integer divisions
# per character cost more than the rest of the request id's work.
_TO_BASE62 = bytes(ord(_BASE62[b % 62]) for b in range(256))
_DROPPED = bytes(range(248, 256))


def random_token(nbytes: int = 32) -> str:
    """A secret of letters and digits with `nbytes` of entropy (fixed length for a given size)."""
    width = math.ceil(nbytes * 8 / math.log2(62))
    out = b""
    while len(out) < width:
        out += secrets.token_bytes(width - len(out) + 4).translate(_TO_BASE62, _DROPPED)
    return out[:width].decode("ascii")


def new_id(prefix: str, length: int = 24) -> str:
    """`prefix_` followed by `length` random base36 characters (~124 bits for 24)."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(length))
    return f"{prefix}_{body}"
