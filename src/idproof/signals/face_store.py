"""The 1:N face index per tenant: embeddings sealed at rest, searched in memory."""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import NotFound, ValidationFailed
from idproof.core.ids import new_id
from idproof.crypto.protection import DataProtection
from idproof.db.engine import Database
from idproof.signals.faces import DEFAULT_DISTANCE, FaceIndex, FaceMatch, normalise
from idproof.signals.models import SignalFace

# `pending` faces (a session not yet approved) are stored but never reported as matches.
LISTS = ("approved", "blocklist", "pending")
# The tenant's face-index data key lives in the key store like a subject's, under this id.
INDEX_SUBJECT = "signals-face-index"


class FaceStore:
    """Each embedding is sealed (AES-256-GCM) under the tenant's face-index key, bound to its
    row; the index of a tenant is decrypted into memory on first search and reloaded when
    another process changed the rows."""

    def __init__(self, db: Database, audit: AuditService, protection: DataProtection,
                 clock: Clock | None = None, *, threshold: float = DEFAULT_DISTANCE) -> None:
        self._db = db
        self._audit = audit
        self._protection = protection
        self._clock = clock or SystemClock()
        self.threshold = threshold
        self._indexes: dict[str, tuple[tuple[tuple[str, int], ...], FaceIndex]] = {}
        self._lock = threading.Lock()

    def _seal(self, tenant_id: str, face_id: str, vec: npt.NDArray[np.float32]) -> bytes:
        key_id = self._protection.subject_key(tenant_id, INDEX_SUBJECT)
        return self._protection.encrypt(tenant_id, "signal_faces", "sealed_embedding",
                                        face_id, key_id, vec.astype("<f4").tobytes())

    def enrol(self, tenant_id: str, session_id: str | None,
              embedding: npt.NDArray[np.floating], list_name: str = "approved", *,
              actor_type: str = "system", actor_id: str | None = None) -> str:
        """Add a face: an approved subject's (with its session) or a blocklisted one."""
        if list_name not in LISTS:
            raise ValidationFailed("the list is approved or blocklist", code="face_list_invalid")
        try:
            vec = normalise(embedding)
        except ValueError:
            raise ValidationFailed("not a usable embedding", code="embedding_invalid") from None
        with self._db.session() as s:
            face_id = self.enrol_in(s, tenant_id, session_id, vec, list_name,
                                    actor_type=actor_type, actor_id=actor_id)
        self.forget(tenant_id)
        return face_id

    def enrol_in(self, s: Session, tenant_id: str, session_id: str | None,
                 embedding: npt.NDArray[np.floating], list_name: str, *,
                 actor_type: str = "system", actor_id: str | None = None) -> str:
        """`enrol` in the caller's transaction (the index reloads once it commits)."""
        vec = normalise(embedding)
        face_id = new_id("face")
        s.add(SignalFace(id=face_id, tenant_id=tenant_id, session_id=session_id,
                         subject_key_id=None, list=list_name,
                         sealed_embedding=self._seal(tenant_id, face_id, vec),
                         created_at=self._clock.now()))
        self._audit.record_in(s, AuditEvent(
            action="signals.face_enrolled", actor_type=actor_type, actor_id=actor_id,
            tenant_id=tenant_id, target_type="session" if session_id else "face",
            target_id=session_id or face_id, details={"list": list_name, "face": face_id}))
        return face_id

    def blocklist_session(self, tenant_id: str, session_id: str, *, actor_type: str,
                          actor_id: str | None) -> str:
        """Blocklist the face kept for a session (a fraudster's): a copy joins the index as
        `blocklist`, so later selfies matching it raise `face_blocklisted`."""
        with self._db.read() as s:
            row = s.scalar(select(SignalFace).where(
                SignalFace.tenant_id == tenant_id, SignalFace.session_id == session_id,
                SignalFace.list != "blocklist").limit(1))
            if row is None:
                raise NotFound("no face is kept for this session", code="face_not_found")
            raw = self._protection.decrypt(tenant_id, "signal_faces", "sealed_embedding",
                                           row.id, None, row.sealed_embedding)
        return self.enrol(tenant_id, None, np.frombuffer(raw, dtype="<f4"), "blocklist",
                          actor_type=actor_type, actor_id=actor_id)

    def forget(self, tenant_id: str) -> None:
        """Drop the tenant's index from memory (rebuilt on the next search)."""
        with self._lock:
            self._indexes.pop(tenant_id, None)

    def _signature(self, tenant_id: str) -> tuple[tuple[str, int], ...]:
        """Rows per list: another process's change shows as a different signature."""
        with self._db.read() as s:
            rows = s.execute(select(SignalFace.list, func.count()).where(
                SignalFace.tenant_id == tenant_id).group_by(SignalFace.list))
            return tuple(sorted((name, int(n)) for name, n in rows))

    @staticmethod
    def has_session(s: Session, tenant_id: str, session_id: str) -> bool:
        return s.scalar(select(SignalFace.id).where(
            SignalFace.tenant_id == tenant_id, SignalFace.session_id == session_id)
            .limit(1)) is not None

    def index(self, tenant_id: str) -> FaceIndex:
        signature = self._signature(tenant_id)
        with self._lock:
            cached = self._indexes.get(tenant_id)
            if cached is not None and cached[0] == signature:
                return cached[1]
            index = FaceIndex()
            with self._db.read() as s:
                q = select(SignalFace).where(SignalFace.tenant_id == tenant_id)
                for row in s.scalars(q.execution_options(yield_per=2000)):
                    raw = self._protection.decrypt(tenant_id, "signal_faces",
                                                   "sealed_embedding", row.id, None,
                                                   row.sealed_embedding)
                    index.add(row.id, row.session_id, row.list,
                              np.frombuffer(raw, dtype="<f4"))
            self._indexes[tenant_id] = (signature, index)
            return index

    def search(self, tenant_id: str, embedding: npt.NDArray[np.floating], *,
               exclude_session: str | None = None, limit: int = 10) -> list[FaceMatch]:
        return self.index(tenant_id).search(embedding, self.threshold, limit,
                                            exclude_session=exclude_session)

    def remove_session(self, s: Session, tenant_id: str, session_id: str) -> None:
        """An erased subject's face leaves the index (rows in the caller's transaction)."""
        s.execute(delete(SignalFace).where(SignalFace.tenant_id == tenant_id,
                                  SignalFace.session_id == session_id))
        self.forget(tenant_id)
