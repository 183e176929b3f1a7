"""private_key_jwt client authentication (RFC 7523 §2.2 / OIDC core §9), replay-proof."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any, cast

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey
from sqlalchemy import CursorResult, delete
from sqlalchemy.exc import IntegrityError

from idproof.auth.models import UsedAssertion
from idproof.db.engine import Database

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# The algorithm is fixed by the registered key's type, never taken from the token header.
_ALG_FOR = {"OKP": ("EdDSA",), "EC": ("ES256",), "RSA": ("PS256", "RS256")}
MAX_ASSERTION_BYTES = 8192


class AssertionRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def unverified_issuer(assertion: str) -> str | None:
    """The `iss`/`sub` the assertion claims, to find which client's key to check it with."""
    parts = assertion.split(".")
    if len(parts) != 3 or len(assertion) > MAX_ASSERTION_BYTES:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict):
        return None
    iss = claims.get("iss")
    return iss if isinstance(iss, str) and iss == claims.get("sub") else None


def _import(jwk: dict[str, Any]) -> Any:
    kty = jwk.get("kty")
    if kty == "OKP":
        return OKPKey.import_key(jwk)
    if kty == "EC":
        return ECKey.import_key(jwk)
    return RSAKey.import_key(jwk)


def verify_assertion(assertion: str, *, client_id: str, jwk: dict[str, Any],
                     audiences: set[str], now: int, leeway: int, max_lifetime: int,
                     db: Database) -> None:
    """Check signature and claims, then burn the `jti` so the assertion works once only."""
    if len(assertion) > MAX_ASSERTION_BYTES:
        raise AssertionRejected("too_large")
    algs = _ALG_FOR.get(str(jwk.get("kty")), ())
    try:
        header = json.loads(base64.urlsafe_b64decode(
            assertion.split(".")[0] + "=" * (-len(assertion.split(".")[0]) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, IndexError):
        raise AssertionRejected("malformed") from None
    if not isinstance(header, dict) or header.get("alg") not in algs:
        raise AssertionRejected("bad_alg")
    if {"jku", "jwk", "x5u", "x5c", "crit"} & header.keys():
        raise AssertionRejected("forbidden_header")
    try:
        decoded = jwt.decode(assertion, _import(jwk), algorithms=list(algs))
    except (JoseError, ValueError, TypeError):
        raise AssertionRejected("bad_signature") from None
    c = decoded.claims
    if c.get("iss") != client_id or c.get("sub") != client_id:
        raise AssertionRejected("bad_subject")
    aud = c.get("aud")
    auds = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
    if not auds & audiences:
        raise AssertionRejected("bad_audience")
    exp, jti = c.get("exp"), c.get("jti")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise AssertionRejected("missing_exp")
    if exp <= now - leeway:
        raise AssertionRejected("expired")
    if exp > now + max_lifetime + leeway:
        raise AssertionRejected("exp_too_far")
    nbf = c.get("nbf", c.get("iat"))
    if isinstance(nbf, int) and nbf > now + leeway:
        raise AssertionRejected("not_yet_valid")
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        raise AssertionRejected("missing_jti")
    expires_at = datetime.fromtimestamp(exp + leeway, UTC)
    try:
        with db.session() as s:
            s.add(UsedAssertion(client_id=client_id, jti=jti, expires_at=expires_at))
    except IntegrityError:
        raise AssertionRejected("replayed") from None


def purge_used(db: Database, now: datetime) -> int:
    with db.session() as s:
        result = cast(CursorResult[Any], s.execute(
            delete(UsedAssertion).where(UsedAssertion.expires_at < now)))
        return int(result.rowcount or 0)
