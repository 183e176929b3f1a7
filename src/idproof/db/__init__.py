"""Database access: engine, sessions (unit of work), the declarative base, migrations."""

from idproof.db.base import Base
from idproof.db.engine import Database

__all__ = ["Base", "Database"]
