"""Shared kernel: ids, clock, errors and small types (standard library only)."""
