"""`normalize_details`: what the database will store and give back, plain details or not."""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any

import pytest

from idproof.audit.canonical import canonical_json
from idproof.audit.leaf import normalize_details


class Level(IntEnum):
    HIGH = 2


@pytest.mark.parametrize("details", [
    {},
    {"scopes": ["identity.verify", "identity.read"], "bound": False, "n": 3, "none": None},
    {"reason": "invalid_client", "ünï": "cödé"},
    {"nested": {"b": 1, "a": [1, 2]}, "t": (1, "x"), "f": 1.5},
    {"level": Level.HIGH, "levels": [Level.HIGH]},
])
def test_details_equal_their_json_round_trip(details: dict[str, object]) -> None:
    normalized = normalize_details(dict(details))
    expected = json.loads(canonical_json(details))
    assert normalized == expected
    # Same types too (an IntEnum would compare equal to its int but store differently).
    assert json.dumps(normalized, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert all(type(v) is type(expected[k]) for k, v in normalized.items())


def test_plain_details_are_copied_not_shared() -> None:
    scopes = ["identity.verify"]
    normalized = normalize_details({"scopes": scopes})
    scopes.append("later")  # the caller's list, changed after the event was recorded
    assert normalized == {"scopes": ["identity.verify"]}


@pytest.mark.parametrize("bad", [{"x": float("nan")}, {"x": [float("inf")]}, {"x": object()},
                                 {1: "int key"}, {"x": {"y": {1, 2}}}])
def test_non_json_details_are_refused(bad: dict[Any, Any]) -> None:
    if 1 in bad:  # JSON turns a non-string key into a string: normalized, not refused
        assert normalize_details(bad) == {"1": "int key"}
        return
    with pytest.raises((ValueError, TypeError)):
        normalize_details(bad)
