"""Random, prefixed, URL-safe identifiers (no meaning, no ordering leaks beyond time)."""

from __future__ import annotations

import math
import secrets
import time

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
# The same for identifiers' base36: each byte below 252 (7 x 36) names one character.
_TO_BASE36 = bytes(ord(_ALPHABET[b % 36]) for b in range(256))
_DROPPED_36 = bytes(range(252, 256))


def _uniform(width: int, table: bytes, dropped: bytes) -> str:
    out = b""
    while len(out) < width:
        out += secrets.token_bytes(width - len(out) + 4).translate(table, dropped)
    return out[:width].decode("ascii")


def random_token(nbytes: int = 32) -> str:
    """A secret of letters and digits with `nbytes` of entropy (fixed length for a given size)."""
    return _uniform(math.ceil(nbytes * 8 / math.log2(62)), _TO_BASE62, _DROPPED)


def new_id(prefix: str, length: int = 24) -> str:
    """`prefix_` followed by `length` random base36 characters (~124 bits for 24)."""
    return f"{prefix}_{_uniform(length, _TO_BASE36, _DROPPED_36)}"


_TIME_CHARS = 9  # milliseconds since 1970 in base36: fixed width until the year 5138


def new_sortable_id(prefix: str, length: int = 24) -> str:
    """`new_id` whose first 9 characters are the time in milliseconds (base36), the rest
    random (~77 bits for 24): ids made later sort later, so a unique index on them grows at
    its right edge instead of dirtying a random page per insert (the audit log's event ids:
    the time they give away is the event's own `occurred_at`)."""
    ms = time.time_ns() // 1_000_000
    stamp = ""
    for _ in range(_TIME_CHARS):
        ms, digit = divmod(ms, 36)
        stamp = _ALPHABET[digit] + stamp
    return f"{prefix}_{stamp}{_uniform(length - _TIME_CHARS, _TO_BASE36, _DROPPED_36)}"
