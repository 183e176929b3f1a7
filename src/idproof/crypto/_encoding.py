"""Unambiguous length-prefixed byte encoding used for AAD, HKDF info and MAC inputs."""

from __future__ import annotations

import struct

_U32 = struct.Struct(">I")


def length_prefixed(*fields: bytes | str) -> bytes:
    """Concatenate fields, each preceded by its 4-byte big-endian length.

    Why: plain concatenation is ambiguous ("ab"+"c" == "a"+"bc"), which would let a ciphertext
    or index from one context verify in another.
    """
    parts: list[bytes] = []
    for field in fields:
        raw = field.encode("utf-8") if isinstance(field, str) else field
        parts.append(_U32.pack(len(raw)))
        parts.append(raw)
    return b"".join(parts)
