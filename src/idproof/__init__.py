"""idproof: self-hosted identity verification, secure and private by design."""

__version__ = "0.1.0"
