"""Keyset pagination cursors: (time, id) as opaque text that a list endpoint hands back."""

from __future__ import annotations

from datetime import datetime

from idproof.core.errors import ValidationFailed


def encode_cursor(at: datetime, row_id: str) -> str:
    """The cursor after the row (`at`, `row_id`). Hex, not base64url: a cursor travels in a
    query string, where a WAF reads a base64url value holding `--` as an SQL comment (OWASP
    CRS 942440, as it did a hosted CSRF token)."""
    return f"{at.isoformat()}|{row_id}".encode().hex()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """(time, id) of a cursor `encode_cursor` made; 422 invalid_cursor for anything else."""
    try:
        ts, row_id = bytes.fromhex(cursor).decode().split("|", 1)
        return datetime.fromisoformat(ts), row_id
    except ValueError:  # UnicodeDecodeError is one
        raise ValidationFailed("the cursor is not valid", code="invalid_cursor") from None
