"""RFC 6962 Merkle tree over SHA-256, built from stored complete subtrees: roots, proofs, checks."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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


def _split(n: int) -> int:
    """Largest power of two strictly below n (n >= 2): where RFC 6962 splits n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def _pieces(begin: int, end: int) -> list[NodeId]:
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


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Hash of a subtree from its complete pieces: RFC 6962 nests them to the right."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _hash_ranges(ranges: Sequence[tuple[int, int]], reader: NodeReader) -> list[bytes]:
    """Hashes of several RFC 6962 subtrees, with a single batched read of their pieces."""
    pieces = [_pieces(begin, end) for begin, end in ranges]
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
        out.append(_fold(hashes))
    return out


def _check_count(name: str, value: object) -> int:
    # bool is an int in Python; a True index is a bug upstream, not leaf 1.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return value


def _check_hash(name: str, value: object) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ValueError(f"{name} must be {HASH_SIZE} bytes")
    return value


# --- appending ----------------------------------------------------------------------------------


def append_sibling_ids(index: int) -> list[NodeId]:
    """Stored nodes needed to append leaf `index`: the left siblings it completes, lowest first.

    There is one per trailing 1 bit of `index` (at most log2 n, one on average), and each is a
    complete subtree that was stored by an earlier append.
    """
    _check_count("index", index)
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
    _check_count("index", index)
    _check_hash("leaf", leaf)
    expected = len(append_sibling_ids(index))
    if len(left_siblings) != expected:
        raise ValueError(f"leaf {index} completes {expected} nodes, got {len(left_siblings)}")
    out = [Node(0, index, leaf)]
    acc = leaf
    for level, sibling in enumerate(left_siblings, start=1):
        acc = node_hash(_check_hash("left sibling", sibling), acc)
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
    return _pieces(0, _check_count("size", size))


def root_at(size: int, reader: NodeReader) -> bytes:
    """Root hash of the first `size` leaves; any size up to what the store holds."""
    if _check_count("size", size) == 0:
        return EMPTY_ROOT
    return _hash_ranges([(0, size)], reader)[0]


def inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    """RFC 6962 audit path for leaf `index` in the tree of `size` leaves, nearest the leaf first."""
    _check_count("index", index)
    _check_count("size", size)
    if index >= size:
        raise ValueError(f"index {index} is not below tree size {size}")
    # Walk down from the root; each step's sibling subtree is one proof element. Only one of
    # them can be incomplete (the first right-hand sibling), so the lookups stay O(log n).
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return _hash_ranges(ranges, reader)


def consistency_proof(size1: int, size2: int, reader: NodeReader) -> list[bytes]:
    """RFC 6962 consistency proof between tree sizes 0 < size1 <= size2."""
    _check_count("size1", size1)
    _check_count("size2", size2)
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
        k = _split(hi - lo)
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
    return _hash_ranges(ranges, reader)


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ---------------------------------------------


def _proof_count(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProofError(f"{name} must be a non-negative int")
    return value


def _proof_hashes(proof: object) -> list[bytes]:
    if isinstance(proof, bytes | str) or not isinstance(proof, Sequence):
        raise ProofError("proof must be a sequence of hashes")
    hashes = list(proof)
    for i, h in enumerate(hashes):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise ProofError(f"proof element {i} is not a {HASH_SIZE}-byte hash")
    return hashes


def _inclusion_proof_length(index: int, size: int) -> int:
    # Levels where the paths to `index` and to the last leaf differ ("inner"), plus one element
    # per complete left subtree above them on the right border.
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root `proof` implies for `leaf` at `index` in a tree of `size`; ProofError if bad."""
    _proof_count("index", index)
    _proof_count("size", size)
    if index >= size:
        raise ProofError(f"index {index} is not below tree size {size}")
    if not isinstance(leaf, bytes) or len(leaf) != HASH_SIZE:
        raise ProofError(f"leaf hash is not {HASH_SIZE} bytes")
    path = _proof_hashes(proof)
    expected = _inclusion_proof_length(index, size)
    if len(path) != expected:
        raise ProofError(f"proof has {len(path)} hashes, leaf {index} of {size} needs {expected}")
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            raise ProofError("proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # On the right border: skip the levels where this subtree has no right sibling.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof is shorter than the tree is deep")
    return r


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf` is leaf `index` of the tree (`size`, `root`); raise ProofError if not."""
    computed = root_from_inclusion_proof(leaf, index, size, proof)
    if not isinstance(root, bytes) or not hmac.compare_digest(computed, root):
        raise ProofError("inclusion proof does not lead to the expected root")


def _consistency_proof_length(size1: int, size2: int) -> int:
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = ((size1 - 1) >> inner).bit_count()
    shift = (size1 & -size1).bit_length() - 1  # trailing zeros of size1
    # When size1 is a power of two, its root is itself a node of the new tree and the verifier
    # already has it, so the proof omits it.
    seed = 0 if size1 == 1 << shift else 1
    return seed + inner - shift + border


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree (size1, root1) is a prefix of (size2, root2); raise ProofError if not.

    A proof from the empty tree is refused: it proves nothing (RFC 9162 requires 0 < size1), so a
    caller holding a size-0 checkpoint should compare its root with EMPTY_ROOT instead.
    """
    _proof_count("size1", size1)
    _proof_count("size2", size2)
    if size2 < size1:
        raise ProofError(f"size2 {size2} is below size1 {size1}")
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    path = _proof_hashes(proof)
    if size1 == size2:
        if path:
            raise ProofError("equal sizes need an empty proof")
        if not (isinstance(root1, bytes) and isinstance(root2, bytes)) or not hmac.compare_digest(
            root1, root2
        ):
            raise ProofError("equal sizes but different roots")
        return
    for name, root in (("root1", root1), ("root2", root2)):
        if not isinstance(root, bytes) or len(root) != HASH_SIZE:
            raise ProofError(f"{name} is not a {HASH_SIZE}-byte hash")
    expected = _consistency_proof_length(size1, size2)
    if len(path) != expected:
        raise ProofError(f"proof has {len(path)} hashes, {size1} -> {size2} needs {expected}")
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof is shorter than the tree is deep")
    if not hmac.compare_digest(fr, root1):
        raise ProofError("consistency proof does not lead to root1")
    if not hmac.compare_digest(sr, root2):
        raise ProofError("consistency proof does not lead to root2")


# --- compact range: the right edge of a tree, for appenders and streaming verifiers -------------


class CompactRange:
    """The complete subtrees covering [0, size): O(log n) hashes that still allow appending.

    They are exactly the left siblings the next appends need, so an appender holding one (built
    once with `from_store`) computes the nodes to store without reading anything; a verifier
    streams every leaf through one to recompute roots in O(log n) memory.
    """

    __slots__ = ("_size", "_stack")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        _check_count("size", size)
        if len(hashes) != size.bit_count():
            raise ValueError(f"size {size} needs {size.bit_count()} hashes, got {len(hashes)}")
        self._size = size
        # Largest (leftmost) subtree first; appends merge at the end.
        self._stack = [_check_hash("compact range hash", h) for h in hashes]

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
        _check_hash("leaf", leaf)
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
        return _fold(self._stack) if self._stack else EMPTY_ROOT


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
    targets = sorted({_check_count("size", s) for s in at_sizes})
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
            roots[size] = _fold(stack)
            t += 1
    return LeafScan(size, _fold(stack) if stack else EMPTY_ROOT, roots)


def root_from_leaves(leaves: Iterable[bytes]) -> bytes:
    """Root hash over a stream of leaf hashes, in O(log n) memory."""
    return scan_leaves(leaves).root


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
