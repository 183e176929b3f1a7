"""An access token's issue: its claims, signing input, audit event and response body.

Both grant paths (the event loop's cached one and the full use case in a thread) prepare the
token and its `token.issued` event alike, sign it, record the event, then answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from joserfc.jwk import OKPKey

from idproof.audit.events import AuditEvent
from idproof.auth import tokens
from idproof.auth.signing_keys import KeySet
from idproof.config import Settings


@dataclass(frozen=True, slots=True)
class Issue:
    """A token about to be issued: sign `signing_input` with `key`, then `body(signature)`."""

    key: OKPKey
    signing_input: bytes
    event: AuditEvent  # token.issued, to record before the token is handed out
    ttl: int
    scope: str

    def body(self, signature: bytes) -> dict[str, Any]:
        """The token response (RFC 6749 §5.1)."""
        return {"access_token": tokens.finish(self.signing_input, signature),
                "token_type": "Bearer", "expires_in": self.ttl, "scope": self.scope}


def prepare_issue(settings: Settings, keys: KeySet, *, client_id: str, tenant_id: str,
                  scopes: list[str], now: int, ip: str | None, request_id: str | None,
                  cert_thumbprint: str | None) -> Issue:
    ttl = settings.auth.token_ttl_seconds
    signing_input, claims = tokens.prepare(
        keys, issuer=settings.issuer, audience=settings.auth.audience, client_id=client_id,
        tenant_id=tenant_id, scopes=scopes, now=now, ttl=ttl,
        # RFC 8705 §3: a token got over mTLS is bound to that certificate.
        cnf={"x5t#S256": cert_thumbprint} if cert_thumbprint else None)
    event = AuditEvent(
        action="token.issued", actor_type="client", actor_id=client_id, tenant_id=tenant_id,
        target_type="token", target_id=claims.jti, ip=ip, request_id=request_id,
        details={"scopes": scopes, "bound": cert_thumbprint is not None})
    return Issue(keys.current, signing_input, event, ttl, " ".join(scopes))


def sign_issue(issue: Issue) -> bytes:
    """The signature of an issue (in whatever thread calls it)."""
    return tokens.sign(issue.key, issue.signing_input)
