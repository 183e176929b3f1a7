"""List cursors (sessions API, review queue, sessions page): hex, round-trip, refuse the rest."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from idproof.core.cursors import decode_cursor, encode_cursor
from idproof.core.errors import ValidationFailed


def test_cursor_is_hex_and_round_trips() -> None:
    at = datetime(2026, 11, 30, 0, 5, tzinfo=UTC)
    for i in range(200):
        when, sid = at + timedelta(microseconds=7919 * i), f"ses_{i:024d}"
        cursor = encode_cursor(when, sid)
        # base64url cursors held `--` now and then, which the CRS gateway reads as SQL.
        assert re.fullmatch(r"[0-9a-f]+", cursor)
        assert decode_cursor(cursor) == (when, sid)


@pytest.mark.parametrize("bad", ["", "zz", "abc", "ff" * 8, "7c", "--a-"])
def test_a_cursor_it_did_not_make_is_invalid(bad: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(bad)
    assert caught.value.code == "invalid_cursor"
