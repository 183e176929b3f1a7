"""A fresh PostgreSQL database per benchmarked server, created and dropped by the bench."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


def admin_url() -> str | None:
    """The PostgreSQL server the bench may create databases on: IDPROOF_BENCH_DATABASE_URL,
    else the test suite's IDPROOF_TEST_DATABASE_URL; None when neither is set."""
    return (os.environ.get("IDPROOF_BENCH_DATABASE_URL")
            or os.environ.get("IDPROOF_TEST_DATABASE_URL") or None)


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """A new, empty database on `url`'s server (its URL), dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"idproof_bench_{uuid.uuid4().hex[:12]}"
    base = make_url(url).set(drivername="postgresql+psycopg")
    admin = create_engine(base.render_as_string(hide_password=False),
                          isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
