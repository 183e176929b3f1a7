"""The `KeyManager` protocol (KEK holder) and the wrapped-key format its backends share."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from idproof.crypto._encoding import length_prefixed

# Wrapped blob, version 1: 0x01 || 12-byte nonce || AES-256-GCM(KEK, DEK) || 16-byte tag.
WRAP_FORMAT_V1 = 0x01
WRAP_NONCE_BYTES = 12
WRAP_TAG_BYTES = 16
MAX_WRAPPED_SECRET = 1024
DERIVED_SECRET_BYTES = 32
_WRAP_AAD_LABEL = b"idproof/kek-wrap/v1"
# derive_secret(label) = HKDF-Expand(PRK=root secret, info=prefix || label, L=32). With L=32
# that is one HMAC-SHA256(root, info || 0x01), which an HSM can compute with CKM_SHA256_HMAC,
# so both backends run the same standard construction.
DERIVE_INFO_PREFIX = b"idproof/kms-derive/v1/"
_LABEL_RE = re.compile(rb"[A-Za-z0-9_.:/\-]{1,128}")


@dataclass(frozen=True, slots=True)
class KekVersionInfo:
    """One KEK version as reported by `KeyManager.versions()`."""

    version: int
    created: datetime
    retired: bool
    retired_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A secret (usually a DEK) encrypted under KEK `kek_version`; store both fields."""

    kek_version: int
    blob: bytes


@runtime_checkable
class KeyManager(Protocol):
    """Holds versioned key-encryption keys; never hands a KEK out."""

    def current_version(self) -> int:
        """The KEK version `wrap` uses now."""
        ...

    def versions(self) -> list[KekVersionInfo]:
        """Every KEK version ever created, retired ones included, oldest first."""
        ...

    def wrap(self, dek: bytes) -> WrappedKey:
        """Encrypt `dek` under the current KEK version."""
        ...

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        """Decrypt a wrapped key; raises KekUnavailableError or UnwrapError."""
        ...

    def rotate(self) -> int:
        """Create a new KEK version, make it current and return it; old ones still unwrap."""
        ...

    def retire(self, version: int) -> None:
        """Destroy KEK `version` (not the current one); the caller checks nothing uses it."""
        ...

    def derive_secret(self, label: bytes) -> bytes:
        """A 32-byte secret for `label`, stable across rotation and re-open."""
        ...

    def close(self) -> None:
        """Release backend resources (sessions, handles)."""
        ...


def wrap_aad(version: int) -> bytes:
    """AAD for a wrapped key: binds it to the KEK version so the version field can't be edited."""
    return length_prefixed(_WRAP_AAD_LABEL, struct.pack(">Q", version))


def check_secret(dek: bytes) -> bytes:
    """Validate a secret before wrapping (non-empty, bounded)."""
    if not isinstance(dek, bytes | bytearray) or not 0 < len(dek) <= MAX_WRAPPED_SECRET:
        raise ValueError(f"secret to wrap must be 1..{MAX_WRAPPED_SECRET} bytes")
    return bytes(dek)


def split_wrapped(wrapped: WrappedKey) -> tuple[bytes, bytes] | None:
    """(nonce, ciphertext+tag) of a v1 wrapped blob, or None if it is malformed."""
    blob = wrapped.blob
    if (not isinstance(blob, bytes) or len(blob) < 1 + WRAP_NONCE_BYTES + WRAP_TAG_BYTES + 1
            or blob[0] != WRAP_FORMAT_V1):
        return None
    return blob[1:1 + WRAP_NONCE_BYTES], blob[1 + WRAP_NONCE_BYTES:]


def derive_info(label: bytes) -> bytes:
    """HKDF info for `derive_secret(label)`, validating the label."""
    if not isinstance(label, bytes) or not _LABEL_RE.fullmatch(label):
        raise ValueError("derive_secret label must be 1-128 bytes of [A-Za-z0-9_.:/-]")
    return DERIVE_INFO_PREFIX + label
