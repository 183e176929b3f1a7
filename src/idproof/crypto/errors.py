"""Errors raised by the crypto package (never carrying plaintext or key material)."""

from __future__ import annotations

from typing import Protocol


class AadFields(Protocol):
    """Where a sealed value belongs (an `envelope.AadContext`), named in the error."""

    @property
    def tenant_id(self) -> str: ...
    @property
    def table(self) -> str: ...
    @property
    def column(self) -> str: ...
    @property
    def row_id(self) -> str: ...


class CryptoError(Exception):
    """Base of every crypto failure.

    Deliberately not an `IdproofError`: these are server-side faults whose details (key ids,
    row context) belong in logs and audit events, not in an API client's problem+json body.
    """


class DecryptionError(CryptoError):
    """A sealed value could not be authenticated and decrypted; no output is produced."""

    def __init__(self, reason: str, *, key_id: str | None = None,
                 context: AadFields | None = None) -> None:
        self.reason = reason
        self.key_id = key_id
        self.context = context
        parts = ["cannot decrypt"]
        if context is not None:
            parts.append(
                f"{context.table}.{context.column} row {context.row_id!r}"
                f" of tenant {context.tenant_id!r}"
            )
        if key_id is not None:
            parts.append(f"(key {key_id!r})")
        super().__init__(" ".join(parts) + f": {reason}")


class KeyManagerError(CryptoError):
    """A KEK operation failed (backend unavailable, bad state, misuse)."""


class KekUnavailableError(KeyManagerError):
    """The KEK version a wrapped key names does not exist or was retired (destroyed)."""

    def __init__(self, version: int, *, retired: bool) -> None:
        self.version = version
        self.retired = retired
        if retired:
            msg = (f"KEK version {version} was retired and destroyed; keys wrapped under it "
                   "can no longer be unwrapped")
        else:
            msg = f"KEK version {version} does not exist in this key manager"
        super().__init__(msg)


class UnwrapError(KeyManagerError):
    """A wrapped key failed authentication (tampered, truncated or wrapped elsewhere)."""

    def __init__(self, version: int, reason: str = "authentication failed") -> None:
        self.version = version
        super().__init__(
            f"cannot unwrap key under KEK version {version}: {reason} "
            "(tampered, truncated, or wrapped by another key manager)"
        )


class KeyringError(KeyManagerError):
    """The local keyring file is missing, unreadable, malformed or unsafe."""


class KeyringPassphraseError(KeyringError):
    """The local keyring could not be opened with the given passphrase."""


class KeyStoreError(CryptoError):
    """The key store is unreachable, of an unknown schema version, or misconfigured."""


class SubjectKeyNotFound(CryptoError):
    """No subject key with this id (in this tenant) exists in the key store."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(f"subject key {key_id!r} does not exist in this tenant's key store")


class SubjectKeyShredded(CryptoError):
    """The subject key was destroyed (crypto-shredding): its data can never be decrypted."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(f"subject key {key_id!r} was shredded; its data is erased")


class KekInUseError(KeyManagerError):
    """A KEK version cannot be retired while data keys are still wrapped under it."""

    def __init__(self, version: int, reason: str) -> None:
        self.version = version
        super().__init__(f"cannot retire KEK version {version}: {reason}")
