"""Audit Merkle tree at a million leaves: append rate, proof times, streaming root recomputation."""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Mapping, Sequence

from idproof.audit.merkle import (
    CompactRange,
    MemoryNodeStore,
    NodeId,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_at,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)


class _CountingReader:
    """Counts batches and node ids, to show each proof is one O(log n) read."""

    def __init__(self, inner: MemoryNodeStore) -> None:
        self.inner = inner
        self.batches = 0
        self.ids = 0

    def get_nodes(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        self.batches += 1
        self.ids += len(ids)
        return self.inner.get_nodes(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=2_000)
    args = parser.parse_args()
    n, rounds = args.leaves, args.proofs
    rng = random.Random(6962)

    t = time.perf_counter()
    leaves = [leaf_hash(i.to_bytes(8, "big")) for i in range(n)]
    print(f"leaf hashes         {n:>9,} in {time.perf_counter() - t:6.2f} s")

    store = MemoryNodeStore()
    t = time.perf_counter()
    for leaf in leaves:
        store.append(leaf)  # batched sibling read + store, as a database appender would
    elapsed = time.perf_counter() - t
    print(f"store appends       {n / elapsed:>12,.0f} /s  ({elapsed:.2f} s, via get_nodes)")

    cr = CompactRange()
    t = time.perf_counter()
    for leaf in leaves:
        cr.append(leaf)  # appender holding the right edge: no reads at all
    elapsed = time.perf_counter() - t
    print(f"compact appends     {n / elapsed:>12,.0f} /s  ({elapsed:.2f} s, no reads)")

    root = root_at(n, store)
    assert cr.root() == root

    reader = _CountingReader(store)
    indexes = [rng.randrange(n) for _ in range(rounds)]
    t = time.perf_counter()
    proofs = [inclusion_proof(i, n, reader) for i in indexes]
    per = (time.perf_counter() - t) / rounds
    print(
        f"inclusion proof     {per * 1e6:>12.1f} us  "
        f"({reader.ids / reader.batches:.0f} nodes in {reader.batches // rounds} read)"
    )
    t = time.perf_counter()
    for i, proof in zip(indexes, proofs, strict=True):
        verify_inclusion(leaves[i], i, n, proof, root)
    print(f"inclusion verify    {(time.perf_counter() - t) / rounds * 1e6:>12.1f} us")

    reader = _CountingReader(store)
    olds = [rng.randrange(1, n) for _ in range(rounds)]
    t = time.perf_counter()
    cproofs = [consistency_proof(m, n, reader) for m in olds]
    per = (time.perf_counter() - t) / rounds
    print(
        f"consistency proof   {per * 1e6:>12.1f} us  "
        f"({reader.ids / reader.batches:.0f} nodes in {reader.batches // rounds} read)"
    )
    old_roots = [root_at(m, store) for m in olds]
    t = time.perf_counter()
    for m, proof, old_root in zip(olds, cproofs, old_roots, strict=True):
        verify_consistency(m, n, proof, old_root, root)
    print(f"consistency verify  {(time.perf_counter() - t) / rounds * 1e6:>12.1f} us")

    t = time.perf_counter()
    streamed = root_from_leaves(iter(leaves))
    print(f"streaming root      {time.perf_counter() - t:>12.2f} s   over {n:,} leaves")
    assert streamed == root


if __name__ == "__main__":
    main()
