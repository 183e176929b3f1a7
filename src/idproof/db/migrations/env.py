"""Alembic environment: runs migrations on the URL given by idproof's settings.

Upgrades need no model metadata. For autogenerate, pass `idproof.schema.metadata` as
`config.attributes["target_metadata"]`: the base layer names no feature.
"""

from __future__ import annotations

from alembic import context

from idproof.db.engine import make_engine

config = context.config


def run() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as connection:
            context.configure(connection=connection,
                              target_metadata=config.attributes.get("target_metadata"),
                              render_as_batch=connection.dialect.name == "sqlite",
                              compare_type=True)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
    finally:
        engine.dispose()


run()
