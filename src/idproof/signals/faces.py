"""The 1:N face index (pure): exact Euclidean search over one float32 matrix."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.floating]
# dlib's embeddings are compared by Euclidean distance (its documented operating point, and
# the 1:1 face match's default, is 0.6). 1:N compares a selfie with every face of the
# tenant, so false matches grow with N: the default is stricter. Cosine similarity was tried
# first and fails on these embeddings (they are not centred: strangers score above 0.85).
DEFAULT_DISTANCE = 0.5


@dataclass(frozen=True, slots=True)
class FaceMatch:
    face_id: str
    session_id: str | None
    list: str  # approved | blocklist
    distance: float


def normalise(vec: Vector) -> npt.NDArray[np.float32]:
    """The embedding as float32, refused when not a finite non-zero vector."""
    v = np.asarray(vec, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("an embedding must be a finite non-zero vector")
    return v


class FaceIndex:
    """One tenant's faces. Adding appends to a growing matrix (amortised doubling);
    removing blanks the row. Thread-safe."""

    def __init__(self, dim: int = 128) -> None:
        self.dim = dim
        self._m = np.zeros((0, dim), dtype=np.float32)
        self._n = 0
        self._ids: list[str] = []
        self._sessions: list[str | None] = []
        self._lists: list[str] = []
        self._live = np.zeros(0, dtype=bool)
        self._sq = np.zeros(0, dtype=np.float32)  # squared norms: |a-b|^2 = |a|^2 - 2ab + |b|^2
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return int(self._live[: self._n].sum())

    def add(self, face_id: str, session_id: str | None, list_name: str, vec: Vector) -> None:
        v = normalise(vec)
        if v.shape[0] != self.dim:
            raise ValueError(f"an embedding has {self.dim} dimensions")
        with self._lock:
            if self._n == self._m.shape[0]:
                grow = max(1024, self._m.shape[0])
                self._m = np.vstack([self._m, np.zeros((grow, self.dim), np.float32)])
                self._live = np.concatenate([self._live, np.zeros(grow, bool)])
                self._sq = np.concatenate([self._sq, np.zeros(grow, np.float32)])
            self._m[self._n] = v
            self._sq[self._n] = float(v @ v)
            self._live[self._n] = True
            self._ids.append(face_id)
            self._sessions.append(session_id)
            self._lists.append(list_name)
            self._n += 1

    def add_many(self, face_ids: list[str], sessions: list[str | None], lists: list[str],
                 matrix: npt.NDArray[np.float32]) -> None:
        """Bulk load (rows already checked): the index at start-up or in a bench."""
        rows = np.asarray(matrix, dtype=np.float32)
        with self._lock:
            self._m = np.vstack([self._m[: self._n], rows])
            self._sq = np.concatenate([self._sq[: self._n], np.einsum("ij,ij->i", rows, rows)])
            self._live = np.concatenate([self._live[: self._n], np.ones(len(face_ids), bool)])
            self._ids += face_ids
            self._sessions += sessions
            self._lists += lists
            self._n += len(face_ids)

    def remove_session(self, session_id: str) -> int:
        with self._lock:
            gone = 0
            for i, sid in enumerate(self._sessions):
                if sid == session_id and self._live[i]:
                    self._live[i] = False
                    self._m[i] = 0.0
                    self._sq[i] = 0.0
                    gone += 1
            return gone

    def search(self, vec: Vector, threshold: float = DEFAULT_DISTANCE, limit: int = 10,
               exclude_session: str | None = None) -> list[FaceMatch]:
        """Faces within `threshold` Euclidean distance, nearest first."""
        q = normalise(vec)
        with self._lock:
            n = self._n
            if n == 0:
                return []
            d2 = self._sq[:n] - 2.0 * (self._m[:n] @ q) + float(q @ q)
            d2[~self._live[:n]] = np.inf
            k = min(limit + 1, n)
            top = np.argpartition(d2, k - 1)[:k]
            top = top[np.argsort(d2[top])]
            out = []
            for i in top:
                s = float(np.sqrt(max(float(d2[i]), 0.0)))
                if s > threshold:
                    break
                if exclude_session is not None and self._sessions[i] == exclude_session:
                    continue
                out.append(FaceMatch(self._ids[i], self._sessions[i], self._lists[i],
                                     round(s, 4)))
            return out[:limit]
