"""What the audit log hands out: stored checkpoints, proofs, verification reports, event JSON."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from idproof.audit.leaf import leaf_fields
from idproof.audit.verify import Finding


def default_origin(public_url: str) -> str:
    """`<host[:port]>/idproof/audit`: the checkpoint origin line when none is configured."""
    parts = urlsplit(public_url)
    host = (parts.hostname or "localhost").lower()
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{host}/idproof/audit"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class LogIntegrityError(RuntimeError):
    """The stored log contradicts itself (e.g. the tree shrank below a signed checkpoint)."""


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: bytes
    proof: list[bytes]

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "tree_size": self.tree_size,
                "leaf_hash": b64(self.leaf_hash), "proof": [b64(h) for h in self.proof]}


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    first: int
    second: int
    proof: list[bytes]

    def as_json(self) -> dict[str, Any]:
        return {"first": self.first, "second": self.second,
                "proof": [b64(h) for h in self.proof]}


@dataclass(slots=True)
class VerifyReport:
    """Outcome of `AuditLog.verify`: the first bad index (if any) and every other problem."""

    events: int
    root: bytes
    checkpoints_checked: int  # stored checkpoints whose signature verified
    finding: Finding | None = None
    problems: list[str] = field(default_factory=list)  # problems not tied to an event index

    @property
    def ok(self) -> bool:
        return self.finding is None and not self.problems


def event_json(row: Any) -> dict[str, Any]:
    """An event as exported and served: its leaf fields plus `index` and `leaf_hash`."""
    return {**leaf_fields(row), "index": row.idx, "leaf_hash": b64(row.leaf_hash)}

