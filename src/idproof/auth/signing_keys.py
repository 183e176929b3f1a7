"""The token signing key ring: Ed25519 keys in the database, private halves sealed.

Keys live in the database so every replica signs with the same current key and a rotation
made from the CLI reaches all of them within seconds. The private key is sealed with AES-GCM
under a key derived from the server secret (kept outside the database).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from joserfc.jwk import OKPKey
from sqlalchemy import select

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.auth.models import SigningKey
from idproof.core.clock import Clock, SystemClock
from idproof.core.ids import random_token
from idproof.db.engine import Database


@dataclass(frozen=True, slots=True)
class KeySet:
    current_kid: str
    current: OKPKey
    verifying: dict[str, OKPKey]  # kid -> public key, current and not yet retired previous

    def jwks(self) -> dict[str, list[dict[str, str | list[str]]]]:
        keys = []
        for kid, key in self.verifying.items():
            jwk = key.as_dict(private=False)
            jwk.update({"kid": kid, "use": "sig", "alg": "EdDSA"})
            keys.append(jwk)
        return {"keys": keys}


class SigningKeyRing:
    def __init__(self, db: Database, seal_key: bytes, audit: AuditService,
                 clock: Clock | None = None, refresh_seconds: float = 5.0,
                 keep_previous_seconds: int = 1800) -> None:
        self._db = db
        self._aead = AESGCM(seal_key)
        self._audit = audit
        self._clock = clock or SystemClock()
        self._refresh = refresh_seconds
        # How long a superseded key keeps verifying: longer than the longest token lifetime.
        self._keep_previous = timedelta(seconds=keep_previous_seconds)
        self._cached: tuple[float, KeySet] | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def _seal(self, kid: str, raw: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, raw, kid.encode())

    def _unseal(self, kid: str, blob: bytes) -> bytes:
        return self._aead.decrypt(blob[:12], blob[12:], kid.encode())

    def _new_row(self) -> SigningKey:
        private = Ed25519PrivateKey.generate()
        raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        kid = "sig-" + random_token(12)
        jwk = OKPKey.import_key(private).as_dict(private=False)
        return SigningKey(kid=kid, public_jwk=jwk, sealed_private=self._seal(kid, raw),
                          created_at=self._clock.now())

    def ensure_key(self) -> str:
        """Create the first signing key if there is none; returns the current kid."""
        with self._db.session() as s:
            current = s.scalar(select(SigningKey).where(SigningKey.superseded_at.is_(None))
                               .order_by(SigningKey.created_at.desc()))
            if current is not None:
                return current.kid
            row = self._new_row()
            s.add(row)
            self._audit.record_in(s, AuditEvent(action="key.signing_created",
                                                target_type="signing_key", target_id=row.kid))
            return row.kid

    def rotate(self, *, actor: str = "cli") -> str:
        """Make a new key current; the previous keeps verifying until its tokens expire."""
        now = self._clock.now()
        with self._db.session() as s:
            row = self._new_row()
            for old in s.scalars(select(SigningKey).where(SigningKey.superseded_at.is_(None))):
                old.superseded_at = now
                old.retire_after = now + self._keep_previous
            s.add(row)
            self._audit.record_in(s, AuditEvent(
                action="key.signing_rotated", actor_type="operator", actor_id=actor,
                target_type="signing_key", target_id=row.kid))
        self.invalidate()
        return row.kid

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None

    def verifying_key(self, kid: str) -> OKPKey | None:
        """The public key for `kid`; an unknown kid triggers one early reload (at most once a
        second), so a key another replica just rotated in is found without waiting."""
        key = self.keyset().verifying.get(kid)
        if key is None and time.monotonic() - self._loaded_at > 1.0:
            self.invalidate()
            key = self.keyset().verifying.get(kid)
        return key

    def refresh_due(self) -> bool:
        """True when the next `keyset` reads the database (a coroutine calls `keyset` in a
        worker thread first, so that the event loop never waits on it)."""
        cached = self._cached
        return cached is None or cached[0] <= time.monotonic()

    def ahead_due(self) -> bool:
        """True in the second half of the ring's interval: time to `refresh_ahead`."""
        cached = self._cached
        return cached is None or cached[0] - time.monotonic() < self._refresh / 2

    def refresh_ahead(self) -> None:
        """Re-read the ring now if `ahead_due` (another thread may just have)."""
        with self._lock:
            if not self.ahead_due():
                return
            self._reload()

    def _reload(self) -> KeySet:
        """Read the ring and cache it for `refresh_seconds` (the caller holds the lock)."""
        ks = self._load()
        self._loaded_at = time.monotonic()
        self._cached = (time.monotonic() + self._refresh, ks)
        return ks

    def keyset(self) -> KeySet:
        cached = self._cached
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        with self._lock:
            return self._reload()

    def _load(self) -> KeySet:
        now = self._clock.now()
        with self._db.read() as s:
            rows = list(s.scalars(select(SigningKey).where(
                (SigningKey.retire_after.is_(None)) | (SigningKey.retire_after > now))
                .order_by(SigningKey.created_at.desc())))
        current_rows = [r for r in rows if r.superseded_at is None]
        if not current_rows:
            raise RuntimeError("no signing key: run `idproof db upgrade` / start the service")
        cur = current_rows[0]
        private = Ed25519PrivateKey.from_private_bytes(self._unseal(cur.kid, cur.sealed_private))
        verifying = {r.kid: OKPKey.import_key(r.public_jwk) for r in rows}
        return KeySet(current_kid=cur.kid, current=OKPKey.import_key(private),
                      verifying=verifying)
