"""Client secret credentials as a token request presents them (pure: no I/O)."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(client id, secret) from an `Authorization: Basic` header, or None if malformed."""
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        cid_raw, secret_raw = raw.split(":", 1)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return unquote_plus(cid_raw), unquote_plus(secret_raw)


def plain_secret(basic: str | None, has_certificate: bool,
                 params: dict[str, str]) -> tuple[str, str] | None:
    """(client id, secret) when a request (its Authorization header, whether it came with a
    client certificate, its form) authenticates plainly with one client secret, basic or
    post, and nothing else; None for anything else (`OAuthService.authenticate` judges it)."""
    if has_certificate or "client_assertion" in params or (
            "client_assertion_type" in params):
        return None
    if basic is not None:
        pair = basic_credentials(basic) if basic[:6].lower() == "basic " else None
        if pair is None or "client_secret" in params or (
                "client_id" in params and params["client_id"] != pair[0]):
            return None
        client_id, secret = pair
    elif "client_secret" in params:
        client_id, secret = params.get("client_id", ""), params["client_secret"]
    else:
        return None
    if not client_id or len(client_id) > 64 or not secret or len(secret) > 256:
        return None
    return client_id, secret
