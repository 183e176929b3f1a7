"""Migration 0019 creates session_contacts exactly as the model declares it."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from idproof.schema import metadata


def test_migration_matches_the_model(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = [d for d in compare_metadata(ctx, metadata) if "session_contacts" in str(d)]
            assert diff == []
            assert "session_contacts" in inspect(conn).get_table_names()
            fks = inspect(conn).get_foreign_keys("session_contacts")
            assert [(f["referred_table"], f["options"].get("ondelete")) for f in fks] == [
                ("verification_sessions", "CASCADE")]
    finally:
        engine.dispose()
