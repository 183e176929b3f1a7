"""What RFC 8705 adds to the authorization server metadata (RFC 8414)."""

from __future__ import annotations

from idproof.auth.mtls import METHODS

MTLS_METHODS = list(METHODS)
# Tokens got on a connection with a client certificate are bound to it (cnf.x5t#S256).
MTLS_METADATA: dict[str, object] = {"tls_client_certificate_bound_access_tokens": True}
