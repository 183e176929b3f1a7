"""Biometrics: face match between the document portrait and a selfie, liveness, PAD."""
