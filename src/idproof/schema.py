"""Every feature's tables in one metadata: what migrations are compared against (edge layer).

It names every feature, so it sits at the top with `bootstrap` and `cli`; nothing at run time
imports it, and no lower layer may (the layers contract in pyproject).
"""

from idproof.audit import models as _audit  # noqa: F401
from idproof.auth import models as _auth  # noqa: F401
from idproof.auth import mtls_models as _auth_mtls  # noqa: F401
from idproof.console import alert_models as _console_alerts  # noqa: F401
from idproof.console import models as _console  # noqa: F401
from idproof.db.base import Base
from idproof.hosted import models as _hosted  # noqa: F401
from idproof.operators import models as _operators  # noqa: F401
from idproof.privacy import models as _privacy  # noqa: F401
from idproof.screening import models as _screening  # noqa: F401
from idproof.signals import models as _signals  # noqa: F401
from idproof.vault import models as _vault  # noqa: F401
from idproof.verification import blobs_sql as _blobs_sql  # noqa: F401
from idproof.verification import models as _verification  # noqa: F401
from idproof.verification.biometrics import models as _biometrics  # noqa: F401
from idproof.webhooks import models as _webhooks  # noqa: F401
from idproof.workflows import models as _workflows  # noqa: F401

metadata = Base.metadata
