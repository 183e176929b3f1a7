"""Migration 0006 matches the biometrics models, and downgrades/upgrades cleanly."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from idproof.db.migrate import alembic_config
from idproof.schema import metadata

TABLES = {"liveness_challenges", "selfie_templates"}


def test_models_match_migration(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = [d for d in compare_metadata(ctx, metadata)
                    if "liveness" in str(d) or "selfie" in str(d)]
            assert diff == []
            assert set(inspect(conn).get_table_names()) >= TABLES
    finally:
        engine.dispose()


def test_downgrade_and_upgrade(db_url: str) -> None:
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0005")
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            assert not set(inspect(conn).get_table_names()) & TABLES
    finally:
        engine.dispose()
    command.upgrade(cfg, "head")
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= TABLES
    finally:
        engine.dispose()
