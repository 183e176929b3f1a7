"""The PII baseline limit: the smallest daily count `baseline_exceeded` calls anomalous."""

from __future__ import annotations

from idproof.security.detectors import baseline_exceeded
from idproof.security.threat_detectors import pii_threshold


def test_pii_threshold() -> None:
    assert pii_threshold([], 10, 50) == 50
    assert pii_threshold([0] * 7, 10, 50) == 50
    assert pii_threshold([10, 20, 30], 10, 50) == 201
    assert pii_threshold([1, 2, 100, 3], 10.0, 50) == 50
    for history in ([], [0, 0, 1], [10, 20, 30], [7] * 7, [100, 1]):
        n = pii_threshold(history, 10, 50)
        assert baseline_exceeded(n, history) and not baseline_exceeded(n - 1, history)
