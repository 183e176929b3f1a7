"""Verification sessions: lifecycle, captures, processing pipeline and the decision."""
