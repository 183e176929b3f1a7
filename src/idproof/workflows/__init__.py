"""Workflows: versioned definitions of what a verification checks and how it decides."""
