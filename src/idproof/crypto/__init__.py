"""Data protection: envelope encryption, KEK management, DEK caching and blind indexes."""

from idproof.crypto.blind_index import BlindIndexer
from idproof.crypto.dek_cache import DekCache
from idproof.crypto.envelope import AadContext, EnvelopeCipher, new_dek, peek_key_id
from idproof.crypto.errors import (
    CryptoError,
    DecryptionError,
    KekUnavailableError,
    KeyManagerError,
    KeyringError,
    KeyringPassphraseError,
    UnwrapError,
)
from idproof.crypto.kms.base import KekVersionInfo, KeyManager, WrappedKey

__all__ = [
    "AadContext",
    "BlindIndexer",
    "CryptoError",
    "DecryptionError",
    "DekCache",
    "EnvelopeCipher",
    "KekUnavailableError",
    "KekVersionInfo",
    "KeyManager",
    "KeyManagerError",
    "KeyringError",
    "KeyringPassphraseError",
    "UnwrapError",
    "WrappedKey",
    "new_dek",
    "peek_key_id",
]
