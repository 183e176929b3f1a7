"""Checking inclusion and consistency proofs (RFC 9162 2.1.3.2 and 2.1.4.2)."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from idproof.audit.merkle.hashing import HASH_SIZE, ProofError, node_hash

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
