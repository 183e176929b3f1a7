"""The scale-out drill, small: two `idproof serve` and two `idproof worker` processes on
PostgreSQL, Redis and the database blob store, one of each SIGKILLed mid-run and restarted;
every session decided, every `session.decided` delivered under one webhook-id, the audit log
verifies (bench/scale_drill.py runs the full 500 sessions and prints the figures)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import PG_URL, REDIS_URL

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def test_two_of_each_survive_a_kill() -> None:
    import scale_drill  # bench/scale_drill.py

    assert PG_URL and REDIS_URL
    images = scale_drill.documents(6, cache=None)  # no files written by the test
    result = scale_drill.run_round(PG_URL, REDIS_URL, images, apis=2, workers=2, kill=True,
                                   concurrency=3, timeout=240)
    assert result.killed == ["api", "worker"]
    assert result.sessions == 6
    assert result.undecided == 0
    assert result.webhooks_missing == 0
    assert result.webhook_ids_differing == 0
    assert result.audit_verified
