"""Field-level AES-256-GCM envelope encryption bound to (tenant, table, column, row id).

Stored format (version 1), raw bytes, suitable for a binary column::

    offset  size     field
    0       1        format version, 0x01
    1       1        L = length of the key id (1..255)
    2       L        key id, ASCII [A-Za-z0-9_.:-] (the id of the subject DEK that sealed it)
    2+L     12       nonce, random per seal
    14+L    n + 16   AES-256-GCM ciphertext of the n-byte plaintext, then the 16-byte tag

Associated data (authenticated, not stored) is a length-prefixed encoding (4-byte big-endian
length before each field) of: the label ``idproof/envelope``, the version byte, the key id,
tenant id, table, column and row id. Because the version and key id are in the AAD, editing the
header fails authentication just like editing the ciphertext; because the row context is in the
AAD, a ciphertext copied to another row, column or tenant fails too, even under the same DEK.

Random 96-bit nonces are safe up to about 2**32 seals per DEK (NIST SP 800-38D); DEKs are
per subject, so each seals only a handful of fields.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from idproof.crypto._encoding import length_prefixed
from idproof.crypto.errors import DecryptionError

FORMAT_V1 = 0x01
DEK_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_AAD_LABEL = b"idproof/envelope"
_KEY_ID_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,255}")
_MIN_V1_LEN = 1 + 1 + 1 + NONCE_BYTES + TAG_BYTES


@dataclass(frozen=True, slots=True)
class AadContext:
    """Where a sealed value lives; none of these fields is personal data."""

    tenant_id: str
    table: str
    column: str
    row_id: str

    def __post_init__(self) -> None:
        for name in ("tenant_id", "table", "column", "row_id"):
            value = getattr(self, name)
            # An empty field would quietly weaken the binding, so refuse it outright.
            if not isinstance(value, str) or not value:
                raise ValueError(f"AadContext.{name} must be a non-empty string")


def new_dek() -> bytes:
    """A fresh random 256-bit data encryption key."""
    return AESGCM.generate_key(bit_length=256)


def validate_key_id(key_id: str) -> str:
    """Return `key_id` if it can be stored in the header, else raise ValueError."""
    if not isinstance(key_id, str) or not _KEY_ID_RE.fullmatch(key_id):
        raise ValueError("key id must be 1-255 characters of [A-Za-z0-9_.:-]")
    return key_id


def _check_dek(dek: bytes) -> None:
    if not isinstance(dek, bytes | bytearray) or len(dek) != DEK_BYTES:
        raise ValueError("DEK must be 32 bytes (AES-256)")


def _aad(version: int, key_id: str, ctx: AadContext) -> bytes:
    return length_prefixed(
        _AAD_LABEL, bytes([version]), key_id, ctx.tenant_id, ctx.table, ctx.column, ctx.row_id
    )


def _parse(blob: bytes, context: AadContext | None) -> tuple[int, str, bytes, bytes]:
    """Split a stored blob into (version, key id, nonce, ciphertext+tag) or raise."""
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise DecryptionError("sealed value is not bytes", context=context)
    blob = bytes(blob)
    if not blob:
        raise DecryptionError("sealed value is empty", context=context)
    version = blob[0]
    if version != FORMAT_V1:
        raise DecryptionError(f"unknown format version {version}", context=context)
    if len(blob) < _MIN_V1_LEN:
        raise DecryptionError("sealed value is truncated", context=context)
    id_len = blob[1]
    id_end = 2 + id_len
    try:
        key_id = blob[2:id_end].decode("ascii")
    except UnicodeDecodeError:
        key_id = ""
    if id_len == 0 or not _KEY_ID_RE.fullmatch(key_id):
        raise DecryptionError("malformed key id in header", context=context)
    if len(blob) < id_end + NONCE_BYTES + TAG_BYTES:
        raise DecryptionError("sealed value is truncated", key_id=key_id, context=context)
    nonce = blob[id_end:id_end + NONCE_BYTES]
    return version, key_id, nonce, blob[id_end + NONCE_BYTES:]


class EnvelopeCipher:
    """Seals and opens single field values under a subject's DEK (stateless, thread-safe)."""

    def seal(self, dek: bytes, key_id: str, plaintext: bytes, aad: AadContext) -> bytes:
        """Encrypt `plaintext` under `dek`, bound to `aad`, tagged with `key_id`."""
        _check_dek(dek)
        validate_key_id(key_id)
        if not isinstance(plaintext, bytes | bytearray | memoryview):
            raise TypeError("plaintext must be bytes")
        raw_id = key_id.encode("ascii")
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(dek).encrypt(nonce, bytes(plaintext), _aad(FORMAT_V1, key_id, aad))
        return b"".join((bytes((FORMAT_V1, len(raw_id))), raw_id, nonce, sealed))

    def open(self, dek: bytes, blob: bytes, aad: AadContext, *,
             expected_key_id: str | None = None) -> bytes:
        """Authenticate and decrypt `blob` for the row `aad`, or raise DecryptionError.

        `expected_key_id`, when given, must match the header; a mismatch means the caller
        loaded the wrong DEK (or the blob was moved between subjects).
        """
        _check_dek(dek)
        version, key_id, nonce, sealed = _parse(blob, aad)
        if expected_key_id is not None and expected_key_id != key_id:
            raise DecryptionError(
                f"sealed under another key than the expected {expected_key_id!r}",
                key_id=key_id, context=aad,
            )
        try:
            return AESGCM(dek).decrypt(nonce, sealed, _aad(version, key_id, aad))
        except InvalidTag:
            raise DecryptionError(
                "authentication failed (tampered, wrong key, or copied from another"
                " row, column or tenant)",
                key_id=key_id, context=aad,
            ) from None

    @staticmethod
    def peek_key_id(blob: bytes) -> str:
        """The id of the DEK that sealed `blob` (unauthenticated: only for choosing a key)."""
        return _parse(blob, None)[1]


def peek_key_id(blob: bytes) -> str:
    """Module-level alias of `EnvelopeCipher.peek_key_id`."""
    return EnvelopeCipher.peek_key_id(blob)
