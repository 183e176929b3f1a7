"""Appending to a stored tree, and its roots and proofs, in O(log n) node lookups."""

from __future__ import annotations

from collections.abc import Sequence

from idproof.audit.merkle.hashing import (
    EMPTY_ROOT,
    Node,
    NodeId,
    NodeReader,
    NodeStoreError,
    check_count,
    check_hash,
    hash_ranges,
    node_hash,
    split_point,
    subtree_pieces,
)

# --- appending ----------------------------------------------------------------------------------


def append_sibling_ids(index: int) -> list[NodeId]:
    """Stored nodes needed to append leaf `index`: the left siblings it completes, lowest first.

    There is one per trailing 1 bit of `index` (at most log2 n, one on average), and each is a
    complete subtree that was stored by an earlier append.
    """
    check_count("index", index)
    ids: list[NodeId] = []
    level = 0
    while index & 1:
        ids.append((level, index - 1))
        index >>= 1
        level += 1
    return ids


def new_complete_nodes(index: int, leaf: bytes, left_siblings: Sequence[bytes]) -> list[Node]:
    """Nodes that become complete when leaf `index` is appended, the leaf itself first.

    `left_siblings` are the hashes of `append_sibling_ids(index)`, in that order. The result is
    exactly what an appender must store for this leaf (1 + number of trailing 1 bits of index).
    """
    check_count("index", index)
    check_hash("leaf", leaf)
    expected = len(append_sibling_ids(index))
    if len(left_siblings) != expected:
        raise ValueError(f"leaf {index} completes {expected} nodes, got {len(left_siblings)}")
    out = [Node(0, index, leaf)]
    acc = leaf
    for level, sibling in enumerate(left_siblings, start=1):
        acc = node_hash(check_hash("left sibling", sibling), acc)
        out.append(Node(level, index >> level, acc))
    return out


def nodes_to_store_on_append(index: int, leaf: bytes, reader: NodeReader) -> list[Node]:
    """What to store when appending leaf `index`: one batched read, at most log2 n hashes."""
    ids = append_sibling_ids(index)
    found = reader.get_nodes(ids) if ids else {}
    missing = [nid for nid in ids if nid not in found]
    if missing:
        raise NodeStoreError(f"nodes {missing} are not stored; cannot append leaf {index}")
    return new_complete_nodes(index, leaf, [found[nid] for nid in ids])


# --- roots and proofs from a node store ---------------------------------------------------------


def root_ids(size: int) -> list[NodeId]:
    """The complete subtrees whose hashes give the root at `size` (one per set bit of size)."""
    return subtree_pieces(0, check_count("size", size))


def root_at(size: int, reader: NodeReader) -> bytes:
    """Root hash of the first `size` leaves; any size up to what the store holds."""
    if check_count("size", size) == 0:
        return EMPTY_ROOT
    return hash_ranges([(0, size)], reader)[0]


def inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    """RFC 6962 audit path for leaf `index` in the tree of `size` leaves, nearest the leaf first."""
    check_count("index", index)
    check_count("size", size)
    if index >= size:
        raise ValueError(f"index {index} is not below tree size {size}")
    # Walk down from the root; each step's sibling subtree is one proof element. Only one of
    # them can be incomplete (the first right-hand sibling), so the lookups stay O(log n).
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return hash_ranges(ranges, reader)


def consistency_proof(size1: int, size2: int, reader: NodeReader) -> list[bytes]:
    """RFC 6962 consistency proof between tree sizes 0 < size1 <= size2."""
    check_count("size1", size1)
    check_count("size2", size2)
    if not 0 < size1 <= size2:
        raise ValueError(f"need 0 < size1 <= size2, got {size1}, {size2}")
    if size1 == size2:
        return []
    # RFC 6962 §2.1.2 SUBPROOF, iteratively; `whole` is its flag b: the old tree is still the
    # whole left subtree, so its root is known to the verifier and is not repeated in the proof.
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size2
    whole = True
    while size1 - lo != hi - lo:
        k = split_point(hi - lo)
        if size1 - lo <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            whole = False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return hash_ranges(ranges, reader)
