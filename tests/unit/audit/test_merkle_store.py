"""Merkle node store, proofs and compact ranges against a naive RFC 6962 reference."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idproof.audit import merkle
from idproof.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryNodeStore,
    Node,
    NodeId,
    NodeStoreError,
    ProofError,
    append_sibling_ids,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    new_complete_nodes,
    node_hash,
    nodes_to_store_on_append,
    root_at,
    root_from_inclusion_proof,
    root_from_leaves,
    scan_leaves,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 300

# --- naive reference: RFC 6962 §2.1 written out recursively over the leaf list ------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_root(leaves: Sequence[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = _k(n)
    return node_hash(ref_root(leaves[:k]), ref_root(leaves[k:]))


def ref_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_root(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_root(leaves[:k])]


def ref_subproof(m: int, leaves: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [ref_root(leaves)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, leaves[:k], b), ref_root(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_root(leaves[:k])]


def ref_consistency(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    return ref_subproof(m, leaves, True)


LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(MAX_SIZE)]


def _store(n: int) -> MemoryNodeStore:
    store = MemoryNodeStore()
    for leaf in LEAVES[:n]:
        store.append(leaf)
    return store


# One store of MAX_SIZE leaves answers for every smaller size too: that is the historical-proof
# case (proofs against an older checkpoint) a growing log must serve.
FULL = _store(MAX_SIZE)


class CountingReader:
    """Wraps a reader and records each batch it is asked for."""

    def __init__(self, inner: MemoryNodeStore) -> None:
        self.inner = inner
        self.batches: list[list[NodeId]] = []

    def get_nodes(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        self.batches.append(list(ids))
        return self.inner.get_nodes(ids)


sizes = st.integers(min_value=1, max_value=MAX_SIZE)


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(sizes)
    return size, draw(st.integers(min_value=0, max_value=size - 1))


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    size2 = draw(sizes)
    return draw(st.integers(min_value=1, max_value=size2)), size2


@given(st.integers(min_value=0, max_value=MAX_SIZE))
def test_root_matches_reference(size: int) -> None:
    want = ref_root(LEAVES[:size])
    assert root_at(size, FULL) == want
    assert root_from_leaves(iter(LEAVES[:size])) == want
    assert _store(size).root() == want


@given(size_and_index())
def test_inclusion_proof_matches_reference_and_verifies(case: tuple[int, int]) -> None:
    size, index = case
    proof = inclusion_proof(index, size, FULL)
    assert proof == ref_path(index, LEAVES[:size])
    root = ref_root(LEAVES[:size])
    verify_inclusion(LEAVES[index], index, size, proof, root)
    assert root_from_inclusion_proof(LEAVES[index], index, size, proof) == root


@given(size_and_index(), st.data())
def test_inclusion_proof_tampering_is_refused(case: tuple[int, int], data: st.DataObject) -> None:
    size, index = case
    proof = inclusion_proof(index, size, FULL)
    root = root_at(size, FULL)
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[(index + 1) % MAX_SIZE], index, size, proof, root)
    if size > 1:
        other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
        with pytest.raises(ProofError):
            verify_inclusion(LEAVES[index], other, size, proof, root)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 8 * merkle.HASH_SIZE - 1))
        bad = bytearray(proof[i])
        bad[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(ProofError):
            verify_inclusion(
                LEAVES[index], index, size, [*proof[:i], bytes(bad), *proof[i + 1 :]], root
            )
        with pytest.raises(ProofError):
            verify_inclusion(LEAVES[index], index, size, proof[:-1], root)
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[index], index, size, [*proof, root], root)
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[index], index, size, [root, *proof], root)
    if size < MAX_SIZE:
        # Right proof, but checked against the root of a bigger tree.
        with pytest.raises(ProofError):
            verify_inclusion(LEAVES[index], index, size, proof, root_at(size + 1, FULL))


@given(two_sizes())
def test_consistency_proof_matches_reference_and_verifies(case: tuple[int, int]) -> None:
    size1, size2 = case
    proof = consistency_proof(size1, size2, FULL)
    assert proof == (ref_consistency(size1, LEAVES[:size2]) if size1 < size2 else [])
    root1, root2 = ref_root(LEAVES[:size1]), ref_root(LEAVES[:size2])
    verify_consistency(size1, size2, proof, root1, root2)


@given(two_sizes(), st.data())
def test_consistency_proof_tampering_is_refused(case: tuple[int, int], data: st.DataObject) -> None:
    size1, size2 = case
    proof = consistency_proof(size1, size2, FULL)
    root1, root2 = root_at(size1, FULL), root_at(size2, FULL)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, root2 if size1 != size2 else EMPTY_ROOT, root2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, root1, leaf_hash(b"forged"))
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, [*proof, root1], root1, root2)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bad = bytearray(proof[i])
        bad[data.draw(st.integers(0, merkle.HASH_SIZE - 1))] ^= 0x80
        with pytest.raises(ProofError):
            verify_consistency(
                size1, size2, [*proof[:i], bytes(bad), *proof[i + 1 :]], root1, root2
            )
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, proof[1:], root1, root2)
    if size2 < MAX_SIZE:
        # The same proof must not vouch for a different (forged) newer tree.
        with pytest.raises(ProofError):
            verify_consistency(size1, size2 + 1, proof, root1, root_at(size2 + 1, FULL))


@given(sizes)
def test_append_stores_only_newly_complete_subtrees(size: int) -> None:
    store = _store(size)
    levels = store._levels
    # Every complete subtree of the tree, and nothing else, is stored.
    for level, hashes in enumerate(levels):
        assert len(hashes) == size >> level
        for index, h in enumerate(hashes):
            lo = index << level
            assert h == ref_root(LEAVES[lo : lo + (1 << level)])
    assert sum(len(h) for h in levels) < 2 * size


@given(sizes)
def test_compact_range_emits_what_the_store_appends(size: int) -> None:
    index = size - 1
    cr = CompactRange.from_store(index, FULL)
    assert cr.size == index
    assert cr.root() == root_at(index, FULL)
    emitted = cr.append(LEAVES[index])
    assert emitted == nodes_to_store_on_append(index, LEAVES[index], FULL)
    assert emitted[0] == Node(0, index, LEAVES[index])
    assert len(emitted) == 1 + len(append_sibling_ids(index))
    assert cr.root() == root_at(size, FULL)
    assert cr.hashes == [FULL.get_nodes([nid])[nid] for nid in merkle.root_ids(size)]


@given(st.lists(st.integers(min_value=0, max_value=MAX_SIZE + 5), max_size=10))
def test_scan_leaves_reports_roots_at_requested_sizes(at_sizes: list[int]) -> None:
    n = 200
    scan = scan_leaves(iter(LEAVES[:n]), at_sizes=at_sizes)
    assert scan.size == n
    assert scan.root == ref_root(LEAVES[:n])
    assert scan.roots == {s: root_at(s, FULL) for s in set(at_sizes) if s <= n}


def test_append_sibling_ids_are_the_left_siblings() -> None:
    assert append_sibling_ids(0) == []
    assert append_sibling_ids(1) == [(0, 0)]
    assert append_sibling_ids(2) == []
    assert append_sibling_ids(7) == [(0, 6), (1, 2), (2, 0)]
    assert append_sibling_ids(11) == [(0, 10), (1, 4)]
    h = LEAVES[7]
    sibs = [LEAVES[6], ref_root(LEAVES[4:6]), ref_root(LEAVES[0:4])]
    assert new_complete_nodes(7, h, sibs) == [
        Node(0, 7, h),
        Node(1, 3, ref_root(LEAVES[6:8])),
        Node(2, 1, ref_root(LEAVES[4:8])),
        Node(3, 0, ref_root(LEAVES[0:8])),
    ]
    with pytest.raises(ValueError, match="completes 3 nodes"):
        new_complete_nodes(7, h, sibs[:2])


def test_proofs_read_once_and_logarithmically() -> None:
    n = MAX_SIZE
    bound = 2 * math.ceil(math.log2(n)) + 2
    for index in (0, 1, 150, 255, 256, n - 1):
        reader = CountingReader(FULL)
        inclusion_proof(index, n, reader)
        assert len(reader.batches) == 1
        assert len(reader.batches[0]) <= bound
    for size1 in (1, 2, 3, 128, 200, n - 1):
        reader = CountingReader(FULL)
        consistency_proof(size1, n, reader)
        assert len(reader.batches) == 1
        assert len(reader.batches[0]) <= bound
    reader = CountingReader(FULL)
    root_at(n, reader)
    assert reader.batches == [merkle.root_ids(n)]
    assert len(merkle.root_ids(n)) == n.bit_count()


def test_store_behind_the_request_is_reported() -> None:
    store = _store(10)
    with pytest.raises(NodeStoreError):
        root_at(11, store)
    with pytest.raises(NodeStoreError):
        inclusion_proof(3, 12, store)
    with pytest.raises(NodeStoreError):
        consistency_proof(3, 16, store)
    with pytest.raises(NodeStoreError):
        nodes_to_store_on_append(11, LEAVES[11], store)


def test_store_is_append_only() -> None:
    store = _store(4)
    with pytest.raises(ValueError, match="append-only"):
        store.store([Node(0, 2, LEAVES[0])])
    with pytest.raises(ValueError, match="append-only"):
        store.store([Node(0, 9, LEAVES[0])])
    assert store.get_nodes([(0, -1), (-1, 0), (5, 0), (0, 4)]) == {}


def test_corrupt_stored_node_is_reported() -> None:
    class Corrupt:
        def get_nodes(self, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
            return dict.fromkeys(ids, b"short")

    with pytest.raises(NodeStoreError, match="bytes"):
        root_at(5, Corrupt())


@pytest.mark.parametrize(("index", "size"), [(-1, 5), (5, 5), (0, 0), (True, 5), (1.0, 5), (0, -3)])
def test_inclusion_proof_arguments_are_checked(index: object, size: object) -> None:
    with pytest.raises(ValueError):
        inclusion_proof(index, size, FULL)  # type: ignore[arg-type]


@pytest.mark.parametrize(("size1", "size2"), [(0, 5), (6, 5), (-1, 5), (0, 0), (2, True)])
def test_consistency_proof_arguments_are_checked(size1: object, size2: object) -> None:
    with pytest.raises(ValueError):
        consistency_proof(size1, size2, FULL)  # type: ignore[arg-type]


def test_consistency_of_equal_sizes_is_empty() -> None:
    assert consistency_proof(7, 7, FULL) == []


@pytest.mark.parametrize(
    "proof",
    [
        None,
        b"x" * 32,
        "proof",
        [b"x" * 31],
        [b"x" * 33],
        ["a" * 32],
        [None],
    ],
)
def test_verifiers_refuse_garbage_proofs(proof: object) -> None:
    root = root_at(4, FULL)
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[0], 0, 4, proof, root)  # type: ignore[arg-type]
    with pytest.raises(ProofError):
        verify_consistency(2, 4, proof, root_at(2, FULL), root)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("leaf", "index", "size"),
    [
        (LEAVES[0][:31], 0, 4),
        ("x" * 32, 0, 4),
        (LEAVES[0], -1, 4),
        (LEAVES[0], 4, 4),
        (LEAVES[0], 2**64 - 1, 4),
        (LEAVES[0], True, 4),
        (LEAVES[0], 0, 4.0),
        (LEAVES[0], 0, 0),
    ],
)
def test_inclusion_verifier_refuses_bad_arguments(
    leaf: object, index: object, size: object
) -> None:
    proof = inclusion_proof(0, 4, FULL)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof, root_at(4, FULL))  # type: ignore[arg-type]


def test_consistency_verifier_edge_cases() -> None:
    r5 = root_at(5, FULL)
    verify_consistency(5, 5, [], r5, r5)
    with pytest.raises(ProofError):
        verify_consistency(5, 5, [], r5, root_at(6, FULL))
    with pytest.raises(ProofError):
        verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)  # the empty tree proves nothing
    with pytest.raises(ProofError):
        verify_consistency(0, 5, [], EMPTY_ROOT, r5)
    with pytest.raises(ProofError):
        verify_consistency(True, 5, consistency_proof(1, 5, FULL), LEAVES[0], r5)
    proof = consistency_proof(3, 5, FULL)
    with pytest.raises(ProofError):
        verify_consistency(3, 5, proof, root_at(3, FULL)[:31], r5)


def test_compact_range_validation() -> None:
    with pytest.raises(ValueError):
        CompactRange(3, [LEAVES[0]])
    with pytest.raises(ValueError):
        CompactRange(1, [b"short"])
    cr = CompactRange()
    assert cr.root() == EMPTY_ROOT
    with pytest.raises(ValueError):
        cr.append(b"short")
    with pytest.raises(ValueError):
        scan_leaves([LEAVES[0], b"short"])
    with pytest.raises(ValueError):
        scan_leaves([], at_sizes=[-1])
    assert scan_leaves([], at_sizes=[0, 1]).roots == {0: EMPTY_ROOT}


@settings(max_examples=20)
@given(st.integers(min_value=1, max_value=64))
def test_appends_from_a_fresh_compact_range_build_the_same_store(n: int) -> None:
    """A DB appender holding only the right edge stores exactly what MemoryNodeStore stores."""
    store = MemoryNodeStore()
    cr = CompactRange()
    for leaf in LEAVES[:n]:
        store.store(cr.append(leaf))
    assert store._levels == _store(n)._levels
