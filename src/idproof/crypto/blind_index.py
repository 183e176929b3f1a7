"""Keyed blind indexes: find equal identifiers (duplicates, lookups) without decrypting them.

    root   = KeyManager.derive_secret(b"blind-index")                  (32 bytes)
    key    = HKDF-SHA256(root, salt=None,
                         info=b"idproof/blind-index/v1/" || lp(tenant) || lp(kind))
    index  = hex(HMAC-SHA256(key, lp(kind) || lp(normalise[kind](value)))[:16])

(``lp`` = 4-byte length prefix, so no two (tenant, kind, value) triples share an encoding.)

Why the root comes from `derive_secret` and not from a KEK: blind indexes are stored next to
the data and compared across years, so their key must survive KEK rotation. Both KeyManager
backends derive it from a dedicated root secret (a random value in the local keyring, a
non-extractable HMAC key in the HSM) that rotation never replaces; KEKs and this root never
share bytes, and the HKDF ``info`` labels keep blind-index keys apart from any other derived
secret. Changing the root (or ``v1``) means recomputing every stored index.

Per-tenant keys mean the same passport number in two tenants gives unrelated indexes, so one
tenant's index column says nothing about another's. The kind is both in the key derivation
and in the MAC input, so a passport number and a phone number never collide. Truncation to
128 bits keeps the column small while leaving accidental collisions negligible.
"""

from __future__ import annotations

import hmac
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Mapping
from hashlib import sha256
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from idproof.crypto._encoding import length_prefixed

if TYPE_CHECKING:
    from idproof.crypto.kms.base import KeyManager

Normalizer = Callable[[str], str]

INDEX_BYTES = 16
ROOT_LABEL = b"blind-index"
_INFO_PREFIX = b"idproof/blind-index/v1/"
_KIND_RE = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,63}")
_KEY_CACHE_SIZE = 4096


def _fold(value: str) -> str:
    # NFKC again after casefold: casefolding can un-normalise some characters, and a second
    # pass makes every normaliser idempotent (normalising a stored value changes nothing).
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())


def normalize_text(value: str) -> str:
    """NFKC, case-folded, whitespace collapsed and trimmed (names, free text)."""
    return " ".join(_fold(value).split())


def normalize_identifier(value: str) -> str:
    """NFKC, case-folded, with whitespace, punctuation and symbols removed.

    For document, passport, national-id and tax numbers, which people type with or without
    spaces, hyphens, dots or slashes ("AB 12-34.56" == "ab123456").
    """
    kept = "".join(ch for ch in _fold(value) if unicodedata.category(ch)[0] in "LNM")
    # Removing a separator can put a combining mark next to a letter; recompose them.
    return unicodedata.normalize("NFKC", kept)


def normalize_phone(value: str) -> str:
    """Digits only, keeping a leading '+' (callers should pass E.164 numbers)."""
    folded = unicodedata.normalize("NFKC", value).strip()
    # `isdigit` after NFKC still admits other scripts' digits; fold them to ASCII 0-9.
    digits = "".join(str(unicodedata.digit(ch)) for ch in folded if ch.isdigit())
    return ("+" + digits) if folded.startswith("+") and digits else digits


def normalize_email(value: str) -> str:
    """NFKC, case-folded and trimmed (no provider-specific dot or plus rules)."""
    return _fold(value).strip()


DEFAULT_NORMALIZERS: Mapping[str, Normalizer] = {
    "document_number": normalize_identifier,
    "passport_number": normalize_identifier,
    "national_id": normalize_identifier,
    "tax_id": normalize_identifier,
    "identifier": normalize_identifier,
    "phone": normalize_phone,
    "email": normalize_email,
    "name": normalize_text,
}


class BlindIndexer:
    """Computes per-tenant, per-kind blind indexes (thread-safe)."""

    def __init__(self, root_secret: bytes, *,
                 normalizers: Mapping[str, Normalizer] | None = None,
                 default_normalizer: Normalizer = normalize_text) -> None:
        if not isinstance(root_secret, bytes) or len(root_secret) < 32:
            raise ValueError("blind-index root secret must be at least 32 bytes")
        self._root = root_secret
        merged = dict(DEFAULT_NORMALIZERS)
        merged.update(normalizers or {})
        for kind in merged:
            _check_kind(kind)
        self._normalizers = merged
        self._default = default_normalizer
        self._lock = threading.Lock()
        # HKDF per call costs ~7 us; a small LRU of per-(tenant, kind) keys avoids it.
        self._keys: OrderedDict[tuple[str, str], bytes] = OrderedDict()

    @classmethod
    def from_key_manager(cls, key_manager: KeyManager, *,
                         normalizers: Mapping[str, Normalizer] | None = None,
                         default_normalizer: Normalizer = normalize_text) -> BlindIndexer:
        """Build from the KMS-held root (stable across KEK rotation)."""
        return cls(key_manager.derive_secret(ROOT_LABEL), normalizers=normalizers,
                   default_normalizer=default_normalizer)

    def normalize(self, kind: str, value: str) -> str:
        """The normalised form of `value` for `kind` (what the index is computed over)."""
        _check_kind(kind)
        if not isinstance(value, str):
            raise TypeError("value must be str")
        return self._normalizers.get(kind, self._default)(value)

    def compute(self, tenant_id: str, kind: str, value: str) -> str:
        """The 32-hex-character blind index of `value`."""
        normalized = self.normalize(kind, value)
        if not normalized:
            # An empty value would give every blank field the same index; the message names
            # the kind only, never the value.
            raise ValueError(f"value for blind index of kind {kind!r} is empty after "
                             "normalisation")
        mac = hmac.new(self._tenant_key(tenant_id, kind),
                       length_prefixed(kind, normalized), sha256).digest()
        return mac[:INDEX_BYTES].hex()

    def matches(self, tenant_id: str, kind: str, value: str, index: str) -> bool:
        """Whether `value` has blind index `index` (constant-time comparison)."""
        try:
            expected = self.compute(tenant_id, kind, value)
        except ValueError:
            return False
        return hmac.compare_digest(expected, index if isinstance(index, str) else "")

    def _tenant_key(self, tenant_id: str, kind: str) -> bytes:
        if not isinstance(tenant_id, str) or not tenant_id:
            raise ValueError("tenant_id must be a non-empty string")
        cache_key = (tenant_id, kind)
        with self._lock:
            key = self._keys.get(cache_key)
            if key is not None:
                self._keys.move_to_end(cache_key)
                return key
        key = HKDF(hashes.SHA256(), 32, None,
                   _INFO_PREFIX + length_prefixed(tenant_id, kind)).derive(self._root)
        with self._lock:
            self._keys[cache_key] = key
            if len(self._keys) > _KEY_CACHE_SIZE:
                self._keys.popitem(last=False)
        return key


def _check_kind(kind: str) -> None:
    if not isinstance(kind, str) or not _KIND_RE.fullmatch(kind):
        raise ValueError("kind must be 1-64 characters of [a-z0-9_.-], starting alphanumeric")
