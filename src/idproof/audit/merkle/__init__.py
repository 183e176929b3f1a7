"""RFC 6962 Merkle tree over SHA-256, built from stored complete subtrees: roots, proofs, checks."""

from idproof.audit.merkle.compact import (
    CompactRange,
    LeafScan,
    root_from_leaves,
    scan_leaves,
)
from idproof.audit.merkle.hashing import (
    EMPTY_ROOT,
    HASH_SIZE,
    Node,
    NodeId,
    NodeReader,
    NodeStoreError,
    ProofError,
    leaf_hash,
    node_hash,
)
from idproof.audit.merkle.memory import (
    MemoryNodeStore,
)
from idproof.audit.merkle.tree import (
    append_sibling_ids,
    consistency_proof,
    inclusion_proof,
    new_complete_nodes,
    nodes_to_store_on_append,
    root_at,
    root_ids,
)
from idproof.audit.merkle.verify import (
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "LeafScan",
    "MemoryNodeStore",
    "Node",
    "NodeId",
    "NodeReader",
    "NodeStoreError",
    "ProofError",
    "append_sibling_ids",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "new_complete_nodes",
    "node_hash",
    "nodes_to_store_on_append",
    "root_at",
    "root_from_inclusion_proof",
    "root_from_leaves",
    "root_ids",
    "scan_leaves",
    "verify_consistency",
    "verify_inclusion",
]
