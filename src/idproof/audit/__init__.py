"""Audit log: append-only events, RFC 6962 Merkle tree, signed checkpoints."""
