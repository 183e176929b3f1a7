"""Signed checkpoints: on demand, every N events, every M seconds, and the sealed log key."""

from __future__ import annotations

import base64
import itertools
import time

import pytest
from cryptography.exceptions import InvalidTag
from pydantic import ValidationError
from sqlalchemy import select
from starlette.testclient import TestClient

from idproof.audit.checkpoint import open_checkpoint
from idproof.audit.events import AuditEvent
from idproof.audit.log import AuditLog, LogIntegrityError, default_origin
from idproof.audit.models import AuditCheckpoint, AuditLogKey
from idproof.bootstrap import Container
from idproof.config import Settings
from idproof.core.clock import FrozenClock
from idproof.web.app import create_app
from tests.audit_log_support import drop_triggers, fill, size, sql


def _sizes(container: Container) -> list[int]:
    with container.db.read() as s:
        return list(s.scalars(select(AuditCheckpoint.size).order_by(AuditCheckpoint.size)))


def test_checkpoint_on_demand_is_a_signed_note_of_the_current_tree(container: Container) -> None:
    key = container.audit_log.public_key()
    assert key.startswith("testserver/idproof/audit+")
    fill(container, 4)
    first = container.audit_log.checkpoint()
    cp = open_checkpoint(first.note, key, origin="testserver/idproof/audit")
    assert (cp.size, cp.root) == (size(container), first.root)
    assert container.audit_log.checkpoint() == first  # same size: the same checkpoint
    fill(container, 1)
    second = container.audit_log.checkpoint()
    assert second.size == first.size + 1
    assert container.audit_log.latest_checkpoint() == second


def test_checkpoint_every_n_events(container: Container) -> None:
    container.audit_log.ensure_key()
    container.audit_log.every_events = 5
    for i in range(12):
        container.audit.record(AuditEvent(action="one.by.one", details={"i": i}))
    sizes, final = _sizes(container), size(container)
    assert sizes and sizes[0] <= 5
    assert all(b - a == 5 for a, b in itertools.pairwise(sizes))
    assert final - sizes[-1] < 5
    # A batch is one commit and so at most one checkpoint, at its end.
    before = len(sizes)
    fill(container, 12)
    assert _sizes(container)[before:] == [size(container)]


def test_first_checkpoint_by_count_creates_the_key_without_deadlocking(
        container: Container) -> None:
    container.audit_log.every_events = 1  # the key's own creation event triggers a checkpoint
    container.audit.record(AuditEvent(action="x"))
    assert _sizes(container)[-1] == size(container)
    assert container.audit_log.verify().ok


def test_maybe_checkpoint_by_time(container: Container, clock: FrozenClock) -> None:
    log = container.audit_log
    log.every_seconds = 60
    made = log.maybe_checkpoint(clock.now())
    assert made is not None and made.size == size(container)
    assert log.maybe_checkpoint(clock.now()) is None  # nothing new
    fill(container, 2)
    clock.advance(59)
    assert log.maybe_checkpoint(clock.now()) is None  # too soon
    clock.advance(2)
    later = log.maybe_checkpoint(clock.now())
    assert later is not None and later.size == made.size + 2
    log.every_seconds = 0
    fill(container, 1)
    clock.advance(3600)
    assert log.maybe_checkpoint(clock.now()) is None  # disabled


def test_the_app_checkpoints_in_the_background_and_stops_cleanly(container: Container) -> None:
    container.audit_log.every_seconds = 0.05
    with TestClient(create_app(container)):
        fill(container, 3)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            latest = container.audit_log.latest_checkpoint()
            if latest is not None and latest.size == size(container):
                break
            time.sleep(0.02)
        else:
            pytest.fail("no checkpoint from the background task")
    stopped_at = _sizes(container)
    fill(container, 2)
    time.sleep(0.3)
    assert _sizes(container) == stopped_at  # the task ended with the app


def test_checkpoint_refuses_to_sign_a_truncated_tree(container: Container) -> None:
    fill(container, 6)
    container.audit_log.checkpoint()
    drop_triggers(container.db.engine)
    sql(container.db.engine, "UPDATE audit_tree_head SET size = size - 3")
    with pytest.raises(LogIntegrityError, match="truncated"):
        container.audit_log.checkpoint()


def test_the_log_key_is_sealed_under_the_server_secret(container: Container) -> None:
    container.audit_log.ensure_key()
    with container.db.read() as s:
        row = s.scalar(select(AuditLogKey))
    assert row is not None
    signer = container.audit_log._key.current_signer()
    assert signer.private.private_bytes_raw() not in row.sealed_private
    other = AuditLog(container.db, b"\x01" * 32, origin="x")  # another server secret
    with pytest.raises(InvalidTag):
        other.ensure_key()
    published = base64.b64encode(b"\x01" + row.public_key).decode()
    assert container.audit_log.public_key().endswith(published)


def test_audit_settings_and_default_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_origin("http://testserver") == "testserver/idproof/audit"
    assert default_origin("https://ID.example.com:8443/base") == \
        "id.example.com:8443/idproof/audit"
    monkeypatch.setenv("IDPROOF_AUDIT__CHECKPOINT_EVERY_EVENTS", "10")
    monkeypatch.setenv("IDPROOF_AUDIT__CHECKPOINT_EVERY_SECONDS", "2.5")
    monkeypatch.setenv("IDPROOF_AUDIT__ORIGIN", "audit.example.com/log")
    s = Settings()
    assert (s.audit.checkpoint_every_events, s.audit.checkpoint_every_seconds,
            s.audit.origin) == (10, 2.5, "audit.example.com/log")
    for bad in ("has space", "a+b", ""):
        monkeypatch.setenv("IDPROOF_AUDIT__ORIGIN", bad)
        with pytest.raises(ValidationError):
            Settings()
