"""Sealing small operator secrets (the TOTP seed) with AES-256-GCM bound to the operator id."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class SecretSealer:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, operator_id: str, plaintext: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), operator_id.encode())

    def open(self, operator_id: str, sealed: bytes) -> str:
        return self._aead.decrypt(sealed[:12], sealed[12:], operator_id.encode()).decode()
