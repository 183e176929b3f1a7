"""Compact ranges: the right edge of a tree, for appenders and streaming verifiers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from idproof.audit.merkle.hashing import (
    EMPTY_ROOT,
    HASH_SIZE,
    Node,
    NodeReader,
    NodeStoreError,
    check_count,
    check_hash,
    fold_pieces,
    node_hash,
)
from idproof.audit.merkle.tree import root_ids

# --- compact range: the right edge of a tree, for appenders and streaming verifiers -------------


class CompactRange:
    """The complete subtrees covering [0, size): O(log n) hashes that still allow appending.

    They are exactly the left siblings the next appends need, so an appender holding one (built
    once with `from_store`) computes the nodes to store without reading anything; a verifier
    streams every leaf through one to recompute roots in O(log n) memory.
    """

    __slots__ = ("_size", "_stack")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        check_count("size", size)
        if len(hashes) != size.bit_count():
            raise ValueError(f"size {size} needs {size.bit_count()} hashes, got {len(hashes)}")
        self._size = size
        # Largest (leftmost) subtree first; appends merge at the end.
        self._stack = [check_hash("compact range hash", h) for h in hashes]

    @classmethod
    def from_store(cls, size: int, reader: NodeReader) -> CompactRange:
        """Load the right edge of the first `size` leaves from a store (one batched read)."""
        ids = root_ids(size)
        found = reader.get_nodes(ids) if ids else {}
        missing = [nid for nid in ids if nid not in found]
        if missing:
            raise NodeStoreError(f"nodes {missing} are not stored")
        return cls(size, [found[nid] for nid in ids])

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> list[bytes]:
        """The complete subtree hashes, largest first (what `root_ids(size)` names)."""
        return list(self._stack)

    def append(self, leaf: bytes) -> list[Node]:
        """Add the next leaf; return the nodes it completes (what a store must now hold)."""
        check_hash("leaf", leaf)
        index = self._size
        stack = self._stack
        out = [Node(0, index, leaf)]
        acc, i, level = leaf, index, 0
        while i & 1:
            acc = node_hash(stack.pop(), acc)
            i >>= 1
            level += 1
            out.append(Node(level, i, acc))
        stack.append(acc)
        self._size = index + 1
        return out

    def root(self) -> bytes:
        """Root hash of the first `size` leaves."""
        return fold_pieces(self._stack) if self._stack else EMPTY_ROOT


@dataclass(frozen=True, slots=True)
class LeafScan:
    """Result of streaming every leaf once: final size and root, and the roots asked for."""

    size: int
    root: bytes
    roots: dict[int, bytes] = field(default_factory=dict)


def scan_leaves(leaves: Iterable[bytes], at_sizes: Iterable[int] = ()) -> LeafScan:
    """Stream leaf hashes once in O(log n) memory, noting the root at each size in `at_sizes`.

    Sizes beyond the number of leaves are absent from `roots`, which lets a verifier tell that
    a stored checkpoint claims more leaves than exist.
    """
    targets = sorted({check_count("size", s) for s in at_sizes})
    roots: dict[int, bytes] = {}
    t = 0
    if targets and targets[0] == 0:
        roots[0] = EMPTY_ROOT
        t = 1
    stack: list[bytes] = []
    size = 0
    # Inlined CompactRange.append without the Node list: this loop runs once per leaf.
    for leaf in leaves:
        if not isinstance(leaf, bytes) or len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf {size} is not a {HASH_SIZE}-byte hash")
        acc, i = leaf, size
        while i & 1:
            acc = node_hash(stack.pop(), acc)
            i >>= 1
        stack.append(acc)
        size += 1
        if t < len(targets) and targets[t] == size:
            roots[size] = fold_pieces(stack)
            t += 1
    return LeafScan(size, fold_pieces(stack) if stack else EMPTY_ROOT, roots)


def root_from_leaves(leaves: Iterable[bytes]) -> bytes:
    """Root hash over a stream of leaf hashes, in O(log n) memory."""
    return scan_leaves(leaves).root
