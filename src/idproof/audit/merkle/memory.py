"""An in-memory node store (tests, benchmarks, verifiers)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from idproof.audit.merkle.hashing import Node, NodeId
from idproof.audit.merkle.tree import nodes_to_store_on_append, root_at

# --- in-memory store ----------------------------------------------------------------------------


class MemoryNodeStore:
    """In-memory NodeReader holding every complete subtree, one list per level."""

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = [[]]

    @property
    def size(self) -> int:
        """Number of leaves appended."""
        return len(self._levels[0])

    def get_nodes(self, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        levels = self._levels
        out: dict[NodeId, bytes] = {}
        for nid in ids:
            level, index = nid
            # Explicit bounds: a negative index would otherwise wrap around the list.
            if 0 <= level < len(levels) and 0 <= index < len(levels[level]):
                out[nid] = levels[level][index]
        return out

    def store(self, nodes: Iterable[Node]) -> None:
        """Record newly complete nodes; each must be the next one at its level (append-only)."""
        levels = self._levels
        for level, index, h in nodes:
            while len(levels) <= level:
                levels.append([])
            if index != len(levels[level]):
                raise ValueError(f"node ({level}, {index}) is out of order; store is append-only")
            levels[level].append(h)

    def append(self, leaf: bytes) -> int:
        """Append a leaf hash the way a database appender would; return its index."""
        index = self.size
        self.store(nodes_to_store_on_append(index, leaf, self))
        return index

    def root(self) -> bytes:
        """Root hash of the whole tree."""
        return root_at(self.size, self)
