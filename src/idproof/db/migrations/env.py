"""Alembic environment: runs migrations on the URL given by idproof's settings."""

from __future__ import annotations

from alembic import context

from idproof.db.engine import make_engine
from idproof.db.models import metadata

config = context.config


def run() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=metadata,
                              render_as_batch=connection.dialect.name == "sqlite",
                              compare_type=True)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
    finally:
        engine.dispose()


run()
