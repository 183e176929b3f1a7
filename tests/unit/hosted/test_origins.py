"""Client web origins as the hosted page compares them with browsers' Origin values."""

from __future__ import annotations

import pytest

from idproof.auth.clients import normalize_origin
from idproof.core.errors import ValidationFailed


@pytest.mark.parametrize(("given", "expected"), [
    ("https://App.Example", "https://app.example"),
    ("https://app.example/", "https://app.example"),
    ("https://app.example:443", "https://app.example"),
    ("https://app.example:8443", "https://app.example:8443"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("http://localhost", "http://localhost"),
])
def test_normalized(given, expected) -> None:
    assert normalize_origin(given) == expected


@pytest.mark.parametrize("bad", [
    "http://app.example", "app.example", "https://app.example/path", "https://u:p@app.example",
    "javascript:alert(1)", "https://app.example?x=1", "https://", "https://a:99999",
])
def test_refused(bad) -> None:
    with pytest.raises(ValidationFailed) as err:
        normalize_origin(bad)
    assert err.value.code == "invalid_origin"
