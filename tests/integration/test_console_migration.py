"""Migration 0017 makes the console's sessions index exactly as declared in console/models.py."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from idproof.schema import metadata


def _indexes(url: str) -> dict[str, list[str | None]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {str(i["name"]): list(i["column_names"])
                    for i in inspect(conn).get_indexes("verification_sessions")}
    finally:
        engine.dispose()


def test_sessions_index_matches_the_model(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = [d for d in compare_metadata(ctx, metadata)
                    if "verification_sessions" in str(d)]
            assert diff == []
    finally:
        engine.dispose()
    assert _indexes(db_url)["ix_sessions_tenant_created"] == ["tenant_id", "created_at", "id"]
