"""Migration 0024 creates tenant_accepted_documents as the model declares it, after 0023, and
goes back down cleanly (no row: every tenant keeps accepting every document)."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from idproof.db.migrate import alembic_config, upgrade
from idproof.schema import metadata

TABLE = "tenant_accepted_documents"


def test_migration_matches_the_model(db_url: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(db_url))
    assert script.get_revision("0024").down_revision == "0023"
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert [d for d in compare_metadata(ctx, metadata) if TABLE in str(d)] == []
            assert conn.execute(text(f"SELECT count(*) FROM {TABLE}")).scalar() == 0
    finally:
        engine.dispose()


def test_migration_goes_down_and_up(db_url: str) -> None:
    command.downgrade(alembic_config(db_url), "0023")
    engine = create_engine(db_url)
    try:
        assert TABLE not in inspect(engine).get_table_names()
        upgrade(db_url)
        engine.dispose()
        assert TABLE in inspect(engine).get_table_names()
    finally:
        engine.dispose()
