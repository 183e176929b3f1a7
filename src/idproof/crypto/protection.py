"""`DataProtection`: per-subject data keys, field encryption, crypto-shredding and KEK rotation.

The one service features use to store personal data. It ties the pieces together: DEKs are
created per data subject, wrapped by the KMS's current KEK and kept in the key store (apart
from the data); fields are sealed with `EnvelopeCipher` under the subject's DEK, bound to
(tenant, table, column, row); unwrapped DEKs live only in a short-lived bounded `DekCache`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.ids import new_id
from idproof.crypto.blind_index import BlindIndexer
from idproof.crypto.dek_cache import DekCache
from idproof.crypto.envelope import AadContext, EnvelopeCipher, new_dek, peek_key_id
from idproof.crypto.errors import (
    CryptoError,
    DecryptionError,
    KekInUseError,
    KeyManagerError,
    SubjectKeyNotFound,
    SubjectKeyShredded,
)
from idproof.crypto.keystore import KeyStore, SubjectKeyRecord
from idproof.crypto.kms.base import KeyManager, WrappedKey

ProgressCallback = Callable[[int, int], None]
_MAX_ID = 64


@dataclass(frozen=True, slots=True)
class RotationResult:
    to_version: int
    resumed: bool  # True when this run finished an earlier, interrupted rotation
    rewrapped: int
    failed: list[str] = field(default_factory=list)  # key ids that could not be unwrapped


@dataclass(frozen=True, slots=True)
class KekStatus:
    version: int
    created: datetime | None
    current: bool
    retired: bool
    retired_at: datetime | None
    live_keys: int
    shredded_keys: int  # tombstones last wrapped under this version


@dataclass(frozen=True, slots=True)
class KeyStatus:
    current_version: int
    versions: list[KekStatus]
    live_keys: int
    shredded_keys: int
    # Shredded keys that a backup of the key store could still unwrap: some KEK version at or
    # below the one that last wrapped them is not retired yet.
    awaiting_retirement: int
    rotation_pending: int  # live keys not yet on the current version


def _check_id(name: str, value: str) -> None:
    if not isinstance(value, str) or not value or len(value) > _MAX_ID:
        raise ValueError(f"{name} must be a non-empty string of at most {_MAX_ID} characters")


class DataProtection:
    """Thread-safe; one per process, built by the container."""

    def __init__(self, store: KeyStore, kms: KeyManager, audit: AuditService, *,
                 cache: DekCache | None = None, clock: Clock | None = None,
                 cipher: EnvelopeCipher | None = None) -> None:
        self.store = store
        self.kms = kms
        self._audit = audit
        self._cache = cache or DekCache(max_entries=10_000, ttl_seconds=60.0)
        self._clock = clock or SystemClock()
        self._cipher = cipher or EnvelopeCipher()
        self._indexer: BlindIndexer | None = None

    # -- subject keys ---------------------------------------------------------------------

    def subject_key(self, tenant_id: str, subject_id: str) -> str:
        """The id of the subject's data key, created on first use.

        Raises SubjectKeyShredded for an erased subject: new data must not be written under
        an identity that was erased.
        """
        _check_id("tenant_id", tenant_id)
        _check_id("subject_id", subject_id)
        found = self.store.find_subject(tenant_id, subject_id)
        if found is None:
            dek = new_dek()
            key_id = new_id("sk")
            found = self.store.create(key_id, tenant_id, subject_id, self.kms.wrap(dek),
                                      self._clock.now())
            if found.key_id == key_id:
                self._cache.put(self._cache_key(tenant_id, key_id), dek)
        if found.shredded:
            raise SubjectKeyShredded(found.key_id)
        return found.key_id

    def key_is_live(self, tenant_id: str, subject_key_id: str) -> bool:
        """Whether the key exists in this tenant and was not shredded."""
        rec = self.store.get(subject_key_id)
        return rec is not None and rec.tenant_id == tenant_id and not rec.shredded

    # -- fields ---------------------------------------------------------------------------

    def encrypt(self, tenant_id: str, table: str, column: str, row_id: str,
                subject_key_id: str, plaintext: bytes | str) -> bytes:
        """Seal one field value for one row under the subject's key."""
        data = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
        ctx = AadContext(tenant_id, table, column, row_id)
        dek = self._dek(tenant_id, subject_key_id)
        return self._cipher.seal(dek, subject_key_id, data, ctx)

    def decrypt(self, tenant_id: str, table: str, column: str, row_id: str,
                subject_key_id: str | None, blob: bytes) -> bytes:
        """Open a sealed field of this row, or raise DecryptionError / SubjectKeyShredded."""
        ctx = AadContext(tenant_id, table, column, row_id)
        try:
            # A malformed blob reports as such, with its row, before any key store lookup.
            key_id = peek_key_id(blob)
        except DecryptionError as exc:
            raise DecryptionError(exc.reason, context=ctx) from None
        if subject_key_id is not None and key_id != subject_key_id:
            raise DecryptionError(f"sealed under another key than the expected "
                                  f"{subject_key_id!r}", key_id=key_id, context=ctx)
        try:
            dek = self._dek(tenant_id, key_id)
        except SubjectKeyNotFound:
            raise DecryptionError("its key does not exist in this tenant (copied from another "
                                  "tenant, or the key store is not this data's)",
                                  key_id=key_id, context=ctx) from None
        return self._cipher.open(dek, blob, ctx, expected_key_id=key_id)

    def blind_index(self, tenant_id: str, kind: str, value: str) -> str:
        """Keyed per-tenant equality index of `value` (see `BlindIndexer`)."""
        if self._indexer is None:
            self._indexer = BlindIndexer.from_key_manager(self.kms)
        return self._indexer.compute(tenant_id, kind, value)

    # -- erasure --------------------------------------------------------------------------

    def shred(self, subject_key_id: str, *, tenant_id: str | None = None,
              actor_type: str = "system", actor_id: str | None = None,
              request_id: str | None = None) -> bool:
        """Destroy the subject's wrapped DEK: all of that person's ciphertexts are gone.

        Returns True when destroyed by this call, False when it already was (the audit event
        is written either way, so a crash between the two is repaired by calling again).
        """
        now = self._clock.now()
        found = self.store.shred(subject_key_id, now)
        if found is None or (tenant_id is not None and found[0].tenant_id != tenant_id):
            raise SubjectKeyNotFound(subject_key_id)
        rec, destroyed = found
        self._cache.invalidate(self._cache_key(rec.tenant_id, subject_key_id))
        self._audit.record(AuditEvent(
            action="crypto.subject_key_shredded", actor_type=actor_type, actor_id=actor_id,
            tenant_id=rec.tenant_id, target_type="subject_key", target_id=subject_key_id,
            request_id=request_id, details={"kek_version": rec.kek_version,
                                            "already_shredded": not destroyed}))
        return destroyed

    # -- KEK rotation ---------------------------------------------------------------------

    def rotate_kek(self, batch_size: int = 500, progress_cb: ProgressCallback | None = None,
                   *, throttle_seconds: float = 0.0, actor: str = "cli") -> RotationResult:
        """Make a new KEK current and re-wrap every live DEK under it, in batches.

        Resumable: the KMS is rotated only when every live DEK is already on the current
        version; otherwise an earlier run was interrupted and this one finishes it. Each batch
        commits atomically with compare-and-set per row, so killing the process at any point
        loses nothing, and reads keep working throughout (old and new KEK both unwrap).
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        current = self.kms.current_version()
        resumed = self.store.count_live_not_on(current) > 0
        if not resumed:
            previous = current
            current = self.kms.rotate()
            self._audit.record(AuditEvent(
                action="crypto.kek_rotated", actor_type="operator", actor_id=actor,
                target_type="kek", target_id=str(current),
                details={"previous_version": previous, "new_version": current}))
        total = self.store.count_live_not_on(current)
        done = 0
        failed: list[str] = []
        if progress_cb:
            progress_cb(0, total)
        while True:
            # Passes from the start until one finds nothing: keys written under an older KEK
            # by a replica that had not yet seen the rotation are caught on the next pass.
            after, found_any = "", False
            while True:
                batch = self.store.batch_not_on(current, after=after, limit=batch_size,
                                                exclude=failed)
                if not batch:
                    break
                found_any = True
                changes = []
                for rec in batch:
                    wrapped = self._rewrap(rec, failed)
                    if wrapped is not None:
                        changes.append((rec.key_id, rec.kek_version, wrapped))
                        # Another rotation may have moved the KMS on; follow it.
                        current = max(current, wrapped.kek_version)
                self.store.rewrap(changes)
                done += len(changes)
                after = batch[-1].key_id
                if progress_cb:
                    progress_cb(done, max(total, done + len(failed)))
                if throttle_seconds > 0:
                    time.sleep(throttle_seconds)
            if not found_any:
                break
        self._audit.record(AuditEvent(
            action="crypto.kek_rewrap_completed", actor_type="operator", actor_id=actor,
            target_type="kek", target_id=str(current),
            outcome="success" if not failed else "failure",
            details={"rewrapped": done, "failed": len(failed), "resumed": resumed}))
        return RotationResult(current, resumed, done, failed)

    def _rewrap(self, rec: SubjectKeyRecord, failed: list[str]) -> WrappedKey | None:
        try:
            return self.kms.wrap(self.kms.unwrap(rec.wrapped_key))
        except KeyManagerError:
            # A damaged wrapped key cannot be saved by retrying; report it, go on with the rest.
            failed.append(rec.key_id)
            return None

    def retire(self, version: int, *, actor: str = "cli") -> None:
        """Destroy KEK `version`; refused while it is current or any live DEK uses it."""
        if version == self.kms.current_version():
            raise KekInUseError(version, "it is the current version; rotate first")
        live = self.store.count_live_on(version)
        if live:
            raise KekInUseError(version, f"{live} data keys are still wrapped under it; run "
                                         "`idproof keys rotate` to finish re-wrapping them")
        self.kms.retire(version)
        self._audit.record(AuditEvent(
            action="crypto.kek_retired", actor_type="operator", actor_id=actor,
            target_type="kek", target_id=str(version), details={"version": version}))

    def status(self) -> KeyStatus:
        current = self.kms.current_version()
        infos = {v.version: v for v in self.kms.versions()}
        counts = {c.kek_version: c for c in self.store.counts()}
        rows = []
        for version in sorted(set(infos) | set(counts)):
            info, count = infos.get(version), counts.get(version)
            rows.append(KekStatus(
                version=version, created=info.created if info else None,
                current=version == current, retired=bool(info and info.retired),
                retired_at=info.retired_at if info else None,
                live_keys=count.live if count else 0,
                shredded_keys=count.shredded if count else 0))
        unretired = [r.version for r in rows if not r.retired]
        oldest_unretired = min(unretired, default=None)
        awaiting = sum(r.shredded_keys for r in rows
                       if oldest_unretired is not None and r.version >= oldest_unretired)
        return KeyStatus(
            current_version=current, versions=rows,
            live_keys=sum(r.live_keys for r in rows),
            shredded_keys=sum(r.shredded_keys for r in rows),
            awaiting_retirement=awaiting,
            rotation_pending=sum(r.live_keys for r in rows if r.version != current))

    # -- internals ------------------------------------------------------------------------

    @staticmethod
    def _cache_key(tenant_id: str, key_id: str) -> str:
        # The tenant is part of the cache key, so a warm DEK never serves another tenant.
        return f"{tenant_id}\x00{key_id}"

    def _dek(self, tenant_id: str, key_id: str) -> bytes:
        def load(_: str) -> bytes:
            rec = self.store.get(key_id)
            if rec is None or rec.tenant_id != tenant_id:
                raise SubjectKeyNotFound(key_id)
            if rec.shredded:
                raise SubjectKeyShredded(key_id)
            return self.kms.unwrap(rec.wrapped_key)

        return self._cache.get_or_load(self._cache_key(tenant_id, key_id), load)

    def clear_cache(self) -> None:
        """Forget every unwrapped DEK (tests, benchmarks, operator tooling)."""
        self._cache.clear()

    def close(self) -> None:
        self._cache.clear()
        self.kms.close()
        self.store.dispose()


__all__ = ["CryptoError", "DataProtection", "KekStatus", "KeyStatus", "RotationResult"]
