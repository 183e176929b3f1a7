"""Imports every feature's tables so the metadata Alembic compares against is complete."""

from idproof.audit import models as _audit  # noqa: F401
from idproof.auth import models as _auth  # noqa: F401
from idproof.db.base import Base
from idproof.vault import models as _vault  # noqa: F401
from idproof.verification import models as _verification  # noqa: F401

metadata = Base.metadata
