"""`idproof audit verify` against raw-SQL tampering past the triggers: the first bad index."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert, select, text
from sqlalchemy.engine import Engine

from idproof.audit.checkpoint import key_id, sign_checkpoint
from idproof.audit.events import AuditEvent
from idproof.audit.leaf import event_leaf_hash, leaf_fields
from idproof.audit.models import AuditCheckpoint, AuditEventRow
from idproof.bootstrap import Container
from tests.audit_log_support import cli, drop_triggers, fill, size, sql, verify

K = 7  # the event the attacker goes after


def _assert_caught(container: Container, index: int, *args: str) -> str:
    result = verify(container, *args)
    assert result.exit_code == 1, result.output
    assert re.search(rf"FAIL: first bad index {index}\b", result.stdout), result.stdout
    return result.stdout


@pytest.fixture
def log(container: Container) -> Container:
    fill(container, 30)
    container.audit_log.checkpoint()
    fill(container, 5, prefix="after")  # some events after the last checkpoint too
    ok = verify(container)
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("OK: ")
    drop_triggers(container.db.engine)
    return container


def _shift_up(engine: Engine, start: int) -> None:
    """Make room at `start` (indexes are unique, so through negative values)."""
    sql(engine, "UPDATE audit_events SET idx = -idx - 1 WHERE idx >= :k", k=start)
    sql(engine, "UPDATE audit_events SET idx = -idx WHERE idx < 0")


def _forged(container: Container, index: int) -> None:
    values = container.audit.values(AuditEvent(action="forged.event", target_id="x"))
    with container.db.engine.begin() as c:
        c.execute(insert(AuditEventRow.__table__).values(**values, idx=index))


def test_edit_is_caught(log: Container) -> None:
    sql(log.db.engine, "UPDATE audit_events SET outcome = 'failure' WHERE idx = :k", k=K)
    out = _assert_caught(log, K)
    assert "altered" in out


def test_edit_with_a_recomputed_leaf_hash_is_caught(log: Container) -> None:
    # A careful attacker also fixes the stored leaf hash: the stored node still remembers.
    with log.db.session() as s:
        row = s.scalar(select(AuditEventRow).where(AuditEventRow.idx == K))
        assert row is not None
        fields = {**leaf_fields(row), "target_id": "someone-else"}
    sql(log.db.engine, "UPDATE audit_events SET target_id = :t, leaf_hash = :h WHERE idx = :k",
        t="someone-else", h=event_leaf_hash(fields), k=K)
    _assert_caught(log, K)


def test_delete_is_caught(log: Container) -> None:
    sql(log.db.engine, "DELETE FROM audit_events WHERE idx = :k", k=K)
    out = _assert_caught(log, K)
    assert "missing" in out


def test_delete_and_renumber_is_caught(log: Container) -> None:
    engine = log.db.engine
    sql(engine, "DELETE FROM audit_events WHERE idx = :k", k=K)
    sql(engine, "UPDATE audit_events SET idx = -idx + 1 WHERE idx > :k", k=K)
    sql(engine, "UPDATE audit_events SET idx = -idx WHERE idx < 0")
    _assert_caught(log, K)


def test_insert_is_caught(log: Container) -> None:
    engine = log.db.engine
    _shift_up(engine, K)
    _forged(log, K)
    sql(engine, "UPDATE audit_tree_head SET size = size + 1")
    _assert_caught(log, K)


def test_insert_after_the_end_is_caught(log: Container) -> None:
    end = size(log)
    _forged(log, end)  # without going through the log: no nodes, head untouched
    out = _assert_caught(log, end)
    assert "beyond the tree head" in out


def test_reorder_is_caught(log: Container) -> None:
    engine = log.db.engine
    other = K + 5
    sql(engine, "UPDATE audit_events SET idx = -1 WHERE idx = :a", a=K)
    sql(engine, "UPDATE audit_events SET idx = :a WHERE idx = :b", a=K, b=other)
    sql(engine, "UPDATE audit_events SET idx = :b WHERE idx = -1", b=other)
    _assert_caught(log, K)


def _truncate(container: Container, at: int, *, drop_later_checkpoints: bool) -> None:
    """Remove every event from `at` on, and every trace of them an appender would trip on."""
    engine = container.db.engine
    sql(engine, "DELETE FROM audit_events WHERE idx >= :k", k=at)
    for level in range(64):  # node (level, i) covers events from i << level
        sql(engine, "DELETE FROM audit_nodes WHERE level = :l AND idx >= :i", l=level,
            i=at >> level)
    sql(engine, "UPDATE audit_tree_head SET size = :k", k=at)
    if drop_later_checkpoints:
        sql(engine, "DELETE FROM audit_checkpoints WHERE size > :k", k=at)


def _rewritten_history(container: Container) -> tuple[int, int]:
    """Events, a checkpoint at `at`, more events and a checkpoint at `end`."""
    fill(container, 12)
    at = container.audit_log.checkpoint().size
    fill(container, 9)
    end = container.audit_log.checkpoint().size
    return at, end


def test_truncate_then_reappend_is_caught(container: Container) -> None:
    at, end = _rewritten_history(container)
    drop_triggers(container.db.engine)
    _truncate(container, at, drop_later_checkpoints=False)
    fill(container, end - at, prefix="rewritten")  # through the service: a valid-looking tail
    assert size(container) == end
    out = _assert_caught(container, at)
    assert f"stored checkpoint at size {end}" in out


def test_truncate_is_caught(container: Container) -> None:
    at, _ = _rewritten_history(container)
    drop_triggers(container.db.engine)
    _truncate(container, at, drop_later_checkpoints=False)
    _assert_caught(container, at)
    # Not even resetting the tree head: the head still counts the removed events.
    fill(container, 3)
    last = size(container)
    sql(container.db.engine, "DELETE FROM audit_events WHERE idx >= :k", k=last - 2)
    _assert_caught(container, at)


def test_witness_checkpoint_catches_a_rewrite_of_everything_unsigned(
        container: Container, tmp_path: Path) -> None:
    at, end = _rewritten_history(container)
    result = cli(container, "audit", "checkpoint")
    assert result.exit_code == 0, result.output
    witness = tmp_path / "witness.txt"
    witness.write_text(result.stdout)  # kept elsewhere, e.g. by an auditor
    assert verify(container, "--checkpoint", str(witness)).exit_code == 0

    drop_triggers(container.db.engine)
    _truncate(container, at, drop_later_checkpoints=True)
    fill(container, end - at, prefix="rewritten")
    # The database alone now tells a consistent story...
    assert verify(container).exit_code == 0
    # ...which the witness copy refutes.
    out = _assert_caught(container, at, "--checkpoint", str(witness))
    assert "witness checkpoint" in out


def test_pinned_key_catches_a_replaced_log_key(container: Container) -> None:
    fill(container, 5)
    container.audit_log.checkpoint()
    published = container.audit_log.public_key()
    drop_triggers(container.db.engine)
    # The attacker swaps in a key of their own and re-signs the stored checkpoints with it.
    forged_key = Ed25519PrivateKey.generate()
    name = container.audit_log.origin
    engine = container.db.engine
    sql(engine, "DELETE FROM audit_log_keys")
    with engine.begin() as c:
        c.execute(text("INSERT INTO audit_log_keys (key_id, name, public_key, sealed_private, "
                       "created_at) VALUES (:k, :n, :p, :s, :t)"),
                  {"k": key_id(name, forged_key.public_key()).hex(), "n": name,
                   "p": forged_key.public_key().public_bytes_raw(), "s": b"x",
                   "t": container.clock.now()})
        for cp in c.execute(select(AuditCheckpoint)).all():
            note = sign_checkpoint(name, cp.size, cp.root, name, forged_key)
            c.execute(text("UPDATE audit_checkpoints SET note = :n WHERE size = :s"),
                      {"n": note, "s": cp.size})
    assert verify(container).exit_code == 0  # trusting the database's own key
    result = verify(container, "--key", published)
    assert result.exit_code == 1
    assert "not validly signed" in result.stdout


def test_verify_usage_errors(container: Container, tmp_path: Path) -> None:
    result = verify(container, "--key", "not-a-key")
    assert result.exit_code == 2
    junk = tmp_path / "junk"
    junk.write_bytes(b"\xff\xfe")
    assert verify(container, "--checkpoint", str(junk)).exit_code == 2
    junk.write_text("not a note\n")
    result = verify(container, "--checkpoint", str(junk))
    assert result.exit_code == 1 and "witness checkpoint is not validly signed" in result.stdout
