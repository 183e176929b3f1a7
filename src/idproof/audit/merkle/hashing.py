"""RFC 6962 hashing over SHA-256 and the node layout of a store of complete subtrees."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol, TypeAlias

# Layout. A node is addressed by (level, index) and covers the leaves
# [index * 2**level, (index + 1) * 2**level). Only complete (perfect) subtrees are ever stored:
# once complete, a node's hash never changes, so the store is append-only like the log itself.
# Any RFC 6962 subtree [begin, end) of a tree of `size` leaves is the right fold of at most
# log2(size) complete subtrees, so a root or a proof costs O(log n) lookups, fetched in one batch,
# and never a walk over the leaves.

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeId: TypeAlias = tuple[int, int]

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class ProofError(ValueError):
    """A Merkle proof is malformed or does not prove what it claims."""


class NodeStoreError(LookupError):
    """A node store lacks a node (or holds a malformed one) that must exist for the request."""


class Node(NamedTuple):
    """A complete subtree's hash, addressed by level (0 = leaf) and index within that level."""

    level: int
    # mypy flags a NamedTuple field that shadows tuple.index; the field is intended (and
    # Node.index is used throughout), tuple.index is never called on a Node.
    index: int  # type: ignore[assignment]
    hash: bytes


class NodeReader(Protocol):
    """Read access to stored complete subtrees; batched so a database answers in one query."""

    def get_nodes(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        """Return the hashes of the requested nodes that are stored; absent ones are left out."""
        ...


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """Largest power of two strictly below n (n >= 2): where RFC 6962 splits n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_pieces(begin: int, end: int) -> list[NodeId]:
    """Complete subtrees making up the RFC 6962 subtree [begin, end), left to right.

    RFC 6962 subtrees start at a multiple of the smallest power of two >= their size, so taking
    the size's bits from high to low always yields aligned, complete pieces.
    """
    out: list[NodeId] = []
    pos, remaining = begin, end - begin
    while remaining:
        level = remaining.bit_length() - 1
        out.append((level, pos >> level))
        pos += 1 << level
        remaining -= 1 << level
    return out


def fold_pieces(hashes: Sequence[bytes]) -> bytes:
    """Hash of a subtree from its complete pieces: RFC 6962 nests them to the right."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def hash_ranges(ranges: Sequence[tuple[int, int]], reader: NodeReader) -> list[bytes]:
    """Hashes of several RFC 6962 subtrees, with a single batched read of their pieces."""
    pieces = [subtree_pieces(begin, end) for begin, end in ranges]
    wanted = list(dict.fromkeys(nid for p in pieces for nid in p))
    found = reader.get_nodes(wanted) if wanted else {}
    out: list[bytes] = []
    for p in pieces:
        hashes: list[bytes] = []
        for nid in p:
            h = found.get(nid)
            if h is None:
                raise NodeStoreError(f"node {nid} is not stored; the store is behind the request")
            if len(h) != HASH_SIZE:
                raise NodeStoreError(f"node {nid} holds {len(h)} bytes, not {HASH_SIZE}")
            hashes.append(h)
        out.append(fold_pieces(hashes))
    return out


def check_count(name: str, value: object) -> int:
    # bool is an int in Python; a True index is a bug upstream, not leaf 1.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return value


def check_hash(name: str, value: object) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ValueError(f"{name} must be {HASH_SIZE} bytes")
    return value
