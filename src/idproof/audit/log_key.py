"""The audit log's Ed25519 signing key: kept in the database, its private half sealed."""

from __future__ import annotations

import os
import threading
from contextlib import suppress

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select

from idproof.audit.checkpoint import CheckpointError, NoteVerifier, parse_verifier_key, verifier_key
from idproof.audit.checkpoint import key_id as note_key_id
from idproof.audit.events import AuditEvent
from idproof.audit.log_results import LogIntegrityError
from idproof.audit.models import AuditLogKey
from idproof.audit.service import AuditService
from idproof.audit.store import head_size
from idproof.core.clock import Clock
from idproof.db.engine import Database


class LogSigner:
    """The key a checkpoint is signed with, under the name its note carries."""

    def __init__(self, name: str, private: Ed25519PrivateKey) -> None:
        self.name = name
        self.private = private
        self.verifier = verifier_key(name, private.public_key())


class LogKey:
    """The signing key is an Ed25519 key kept in the database with its private half sealed
    (AES-256-GCM) under a key derived from the server secret, like the token signing keys:
    every replica signs with the same key, and a database copy alone cannot sign."""

    def __init__(self, db: Database, seal_key: bytes, *, origin: str, clock: Clock,
                 audit: AuditService | None) -> None:
        self._db = db
        self._aead = AESGCM(seal_key)
        self._origin = origin
        self._clock = clock
        self._audit = audit
        self._signer: LogSigner | None = None
        # Reentrant: creating the key appends an audit event, whose listener may checkpoint.
        self._lock = threading.RLock()

    def _seal(self, kid: str, raw: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, raw, f"audit-log-key:{kid}".encode())

    def _unseal(self, kid: str, blob: bytes) -> bytes:
        return self._aead.decrypt(blob[:12], blob[12:], f"audit-log-key:{kid}".encode())

    def ensure(self) -> str:
        """Create the log's signing key if there is none; returns its verifier key string."""
        return self.current_signer().verifier

    def current_signer(self) -> LogSigner:
        signer = self._signer
        if signer is not None:
            return signer
        with self._lock:
            if self._signer is None:
                self._signer = self._load_or_create_key()
            return self._signer

    def _load_or_create_key(self) -> LogSigner:
        with self._db.session() as s:
            # The head lock serializes key creation too: two processes starting at once must
            # not each create a key.
            head_size(s, lock=True)
            row = s.scalar(select(AuditLogKey).order_by(AuditLogKey.created_at.desc()).limit(1))
            if row is None:
                private = Ed25519PrivateKey.generate()
                name = self._origin
                kid = note_key_id(name, private.public_key()).hex()
                row = AuditLogKey(key_id=kid, name=name,
                                  public_key=private.public_key().public_bytes_raw(),
                                  sealed_private=self._seal(kid, private.private_bytes_raw()),
                                  created_at=self._clock.now())
                s.add(row)
                if self._audit is not None:
                    self._audit.record_in(s, AuditEvent(
                        action="key.audit_log_created", target_type="audit_log_key",
                        target_id=kid))
                return LogSigner(name, private)
        private = Ed25519PrivateKey.from_private_bytes(self._unseal(row.key_id, row.sealed_private))
        if private.public_key().public_bytes_raw() != row.public_key:
            raise LogIntegrityError("the stored log key's halves do not match")
        return LogSigner(row.name, private)

    def verifiers(self) -> list[NoteVerifier]:
        """Every key the log ever signed with (from the database)."""
        with self._db.read() as s:
            rows = list(s.execute(select(AuditLogKey.name, AuditLogKey.public_key)))
        out = []
        for name, public in rows:
            with suppress(ValueError, CheckpointError):
                out.append(parse_verifier_key(
                    verifier_key(name, Ed25519PublicKey.from_public_bytes(public))))
        return out
