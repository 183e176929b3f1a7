"""Hosted links: `<session id>.<MAC>`, so a link cannot be guessed or forged from an id alone.

The MAC is HMAC-SHA256 under a server key, so no link secret is stored; single use and
expiry are enforced by the session row (`link_used_at`, `expires_at`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac


class LinkSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, session_id: str) -> str:
        digest = hmac.new(self._key, b"idproof/link/v1/" + session_id.encode(),
                          hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def token(self, session_id: str) -> str:
        return f"{session_id}.{self._mac(session_id)}"

    def session_id(self, token: str) -> str | None:
        """The session id a link token names, or None when it is not one of ours."""
        sid, _, mac = token.partition(".")
        if not sid or not mac or len(token) > 128:
            return None
        return sid if hmac.compare_digest(mac, self._mac(sid)) else None
