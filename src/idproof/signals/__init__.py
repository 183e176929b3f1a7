"""Fraud signals: IP intelligence, device fingerprints, velocity and the 1:N face index."""
