"""Helpers for the audit log tests: an attacker's raw SQL, and the CLI run against a test DB."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from idproof.audit.events import AuditEvent
from idproof.bootstrap import Container
from idproof.cli.main import app

LOG_TABLES = ("audit_events", "audit_nodes", "audit_checkpoints", "audit_log_keys")
runner = CliRunner()


def cli_env(container: Container) -> dict[str, str]:
    s = container.settings
    assert s.database_url is not None and s.secret_key is not None
    return {
        "IDPROOF_DATA_DIR": str(s.data_dir),
        "IDPROOF_DATABASE_URL": s.database_url.get_secret_value(),
        "IDPROOF_SECRET_KEY": s.secret_key.get_secret_value(),
        "IDPROOF_PUBLIC_URL": s.public_url,
    }


def cli(container: Container, *args: str) -> Result:
    return runner.invoke(app, list(args), env=cli_env(container))


def verify(container: Container, *args: str) -> Result:
    return cli(container, "audit", "verify", "--quiet", *args)


def drop_triggers(engine: Engine) -> None:
    """What an attacker with database rights does first: remove the append-only triggers."""
    with engine.begin() as c:
        if engine.dialect.name == "postgresql":
            for table in LOG_TABLES:
                c.execute(text(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"))
                c.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}"))
            c.execute(text("DROP TRIGGER IF EXISTS audit_tree_head_grows ON audit_tree_head"))
        else:
            for table in LOG_TABLES:
                c.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
                c.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
            c.execute(text("DROP TRIGGER IF EXISTS audit_tree_head_no_shrink"))
            c.execute(text("DROP TRIGGER IF EXISTS audit_tree_head_no_delete"))


def sql(engine: Engine, statement: str, **params: Any) -> Any:
    with engine.begin() as c:
        return c.execute(text(statement), params)


def fill(container: Container, n: int, *, tenant_id: str | None = None,
         prefix: str = "test") -> None:
    container.audit.record_many(
        AuditEvent(action=f"{prefix}.event", tenant_id=tenant_id, target_type="thing",
                   target_id=f"t{i}", details={"n": i}) for i in range(n))


def size(container: Container) -> int:
    return container.audit_log.size()


def append_from_process(url: str, seal_key: bytes, origin: str, worker: int, events: int,
                        start: Any) -> None:
    """One OS process appending `events` events (singly and in batches) and checkpointing."""
    from idproof.audit.log import AuditLog
    from idproof.audit.service import AuditService
    from idproof.db.engine import Database

    db = Database(url)
    audit = AuditService(db)
    log = AuditLog(db, seal_key, origin=origin, audit=audit, every_events=25, every_seconds=0)
    audit.appended.subscribe(log.after_append)
    start.wait(30)
    try:
        i = 0
        while i < events:
            if i % 10 == 0 and events - i >= 5:
                audit.record_many(AuditEvent(action="concurrent.batch", actor_id=f"w{worker}",
                                             details={"i": i + j}) for j in range(5))
                i += 5
            else:
                audit.record(AuditEvent(action="concurrent.single", actor_id=f"w{worker}",
                                        details={"i": i}))
                i += 1
    finally:
        db.dispose()
