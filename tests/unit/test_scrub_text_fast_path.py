"""Log scrubbing's fast path (one search, nothing under 13 characters) changes no output."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from idproof.core import logging as idlog


def _reference(text: str) -> str:
    """Every substitution, always: what scrub_text did before its fast path."""
    for pattern in idlog._PATTERNS:
        text = pattern.sub(idlog.REDACTED, text)
    return idlog._ID_DOT_SECRET.sub(rf"\1.{idlog.REDACTED}", text)


_PIECES = st.sampled_from([
    "eyJ", "eyJhbGciOiJFZERTQSJ9", ".", "..", "idpsk_", "whsec_", "Bearer ", "BASIC\t",
    "bearer", "ses_abc", "-", "_", "/verify/", "0123456789abcdefghijKLMNOPQRST", "aB3-_",
    "=", "+", " ", "é", "/", "?", "&token=", "x" * 19, "x" * 20,
])


@settings(max_examples=3000, deadline=None)
@given(st.lists(_PIECES | st.text(max_size=6), max_size=12).map("".join))
def test_scrubbing_is_unchanged_by_the_fast_path(text: str) -> None:
    assert idlog.scrub_text(text) == _reference(text)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_no_pattern_matches_text_shorter_than_the_cutoff(data: st.DataObject) -> None:
    for pattern in (*idlog._PATTERNS, idlog._ID_DOT_SECRET):
        match = data.draw(st.from_regex(pattern, fullmatch=True))
        assert len(match) >= idlog._SHORTEST_MATCH, (pattern.pattern, match)


def test_secrets_are_still_scrubbed() -> None:
    jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    assert idlog.scrub_text(f"token {jwt} end") == "token [redacted] end"
    assert idlog.scrub_text("Authorization: Basic Y2xpOnNlY3JldA==") == (
        "Authorization: [redacted]")
    assert idlog.scrub_text("/verify/ses_abc.S3CRETMACvalue0123456789xyz") == (
        "/verify/ses_abc.[redacted]")
    assert idlog.scrub_text("idpsk_abcdefgh") == "[redacted]"  # 14 characters
    assert idlog.scrub_text("POST") == "POST"
