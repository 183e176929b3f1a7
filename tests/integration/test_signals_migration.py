"""Migration 0022 matches the signals and screening-hit models, and downgrades cleanly."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from idproof.db.migrate import alembic_config
from idproof.schema import metadata

TABLES = {"screening_hits", "signal_datasets", "signal_ranges", "signal_observations",
          "signal_faces", "signal_results"}
pytestmark = pytest.mark.postgres


def _tables(db_url: str) -> set[str]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_models_match_migration(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = [d for d in compare_metadata(ctx, metadata)
                    if any(t in str(d) for t in TABLES)]
            assert diff == []
    finally:
        engine.dispose()
    assert _tables(db_url) >= TABLES


def test_downgrade_and_upgrade(db_url: str) -> None:
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0015")
    assert not _tables(db_url) & TABLES
    command.upgrade(cfg, "head")
    assert _tables(db_url) >= TABLES
