"""Canonical JSON bytes of an audit event: what its Merkle leaf hash is computed over."""

from __future__ import annotations

import json
from typing import Any


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (not \\u escapes): one byte string per value.

    tools/verify_audit_proof.py repeats this exact call so third parties can recompute leaf
    hashes without idproof; keep the two in step. NaN and infinities are refused because they
    are not JSON, and other verifiers could not parse, let alone re-encode, them.
    """
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
