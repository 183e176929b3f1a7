"""Minting and verifying access tokens: Ed25519-signed JWTs with a pinned algorithm.

The verifier decides everything from its own configuration: the algorithm is pinned to
EdDSA, the key comes from our own key ring by `kid`, and header members that would let a
token name its own key (`jku`, `jwk`, `x5u`, `x5c`) are refused outright.
"""

from __future__ import annotations

import base64
import binascii
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeGuard

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from joserfc.util import to_bytes

from idproof.auth.signing_keys import KeySet
from idproof.core.ids import random_token

try:  # joserfc >= 1.4 flags "EdDSA" as superseded by RFC 9864's "Ed25519" name.
    from joserfc.errors import SecurityWarning

    # The contract with API clients is `alg: EdDSA` (RFC 8037); with an Ed25519 key it is
    # exactly the algorithm RFC 9864 calls "Ed25519", so the warning carries no risk here.
    warnings.filterwarnings("ignore", message=".*EdDSA is deprecated.*",
                            category=SecurityWarning)
except ImportError:  # pragma: no cover - older joserfc
    pass

ALG = "EdDSA"
TOKEN_TYPE = "at+jwt"  # noqa: S105 - RFC 9068: keeps access tokens from being mistaken for other JWTs
FORBIDDEN_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "crit"})


class InvalidToken(Exception):
    """The token is not acceptable; `reason` is a short code for logs and audit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AccessClaims:
    client_id: str
    tenant_id: str
    scopes: tuple[str, ...]
    jti: str
    issued_at: int
    expires_at: int
    claims: dict[str, Any]


def mint(keys: KeySet, *, issuer: str, audience: str, client_id: str, tenant_id: str,
         scopes: list[str] | tuple[str, ...], now: int, ttl: int,
         cnf: dict[str, str] | None = None) -> tuple[str, AccessClaims]:
    jti = random_token(18)
    claims: dict[str, Any] = {
        "iss": issuer, "sub": client_id, "aud": audience, "client_id": client_id,
        "scope": " ".join(scopes), "tenant": tenant_id, "iat": now, "nbf": now,
        "exp": now + ttl, "jti": jti,
    }
    if cnf is not None:
        claims["cnf"] = cnf  # RFC 8705 certificate binding
    header = {"alg": ALG, "typ": TOKEN_TYPE, "kid": keys.current_kid}
    token = compact_jws(header, claims, keys.current)
    return token, AccessClaims(client_id, tenant_id, tuple(scopes), jti, now, now + ttl, claims)


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@lru_cache(maxsize=16)
def _header_segment(items: tuple[tuple[str, Any], ...]) -> bytes:
    # The header is the same for every token of a signing key: encoded once per key.
    return _b64url(json.dumps(dict(items), separators=(",", ":")).encode())


def compact_jws(header: dict[str, Any], claims: dict[str, Any], key: OKPKey) -> str:
    """RFC 7515 compact serialization signed with Ed25519 (pyca `cryptography`), the same
    token `joserfc.jwt.encode` makes for this pinned header, without its generic machinery
    (a quarter of a grant's CPU). `verify` still checks tokens with joserfc."""
    if header.get("alg") != ALG:
        raise ValueError("only EdDSA is minted")
    signing_input = (_header_segment(tuple(header.items())) + b"."
                     + _b64url(json.dumps(claims, separators=(",", ":")).encode()))
    signature = key.private_key.sign(signing_input)  # type: ignore[union-attr]
    return (signing_input + b"." + _b64url(signature)).decode("ascii")


def _b64json(segment: str) -> Any:
    pad = "=" * (-len(segment) % 4)
    try:
        return json.loads(base64.urlsafe_b64decode(segment + pad))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidToken("malformed") from None


def verify(token: str, key_for: Callable[[str], OKPKey | None], *, issuer: str,
           audience: str, now: int, leeway: int, max_bytes: int) -> AccessClaims:
    if len(token) > max_bytes:
        raise InvalidToken("too_large")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise InvalidToken("malformed")
    header = _b64json(parts[0])
    if not isinstance(header, dict):
        raise InvalidToken("malformed")
    if header.get("alg") != ALG:
        raise InvalidToken("bad_alg")
    if FORBIDDEN_HEADERS & header.keys():
        raise InvalidToken("forbidden_header")
    if header.get("typ") != TOKEN_TYPE:
        raise InvalidToken("bad_typ")
    kid = header.get("kid")
    key = key_for(kid) if isinstance(kid, str) and len(kid) <= 64 else None
    if key is None:
        raise InvalidToken("unknown_kid")
    try:
        decoded = jwt.decode(to_bytes(token), key, algorithms=[ALG])
    except (JoseError, ValueError, TypeError):
        raise InvalidToken("bad_signature") from None
    c = decoded.claims
    if c.get("iss") != issuer:
        raise InvalidToken("bad_issuer")
    aud = c.get("aud")
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        raise InvalidToken("bad_audience")
    exp, iat, nbf = c.get("exp"), c.get("iat"), c.get("nbf", c.get("iat"))
    if not (_is_int(exp) and _is_int(iat) and _is_int(nbf)):
        raise InvalidToken("malformed_claims")
    if now >= exp + leeway:
        raise InvalidToken("expired")
    if nbf > now + leeway or iat > now + leeway:
        raise InvalidToken("not_yet_valid")
    sub, tenant, scope, jti = c.get("sub"), c.get("tenant"), c.get("scope"), c.get("jti")
    if not (_is_nonempty_str(sub) and _is_nonempty_str(tenant) and _is_nonempty_str(jti)
            and isinstance(scope, str)):
        raise InvalidToken("malformed_claims")
    return AccessClaims(sub, tenant, tuple(scope.split()), jti, iat, exp, c)


def _is_int(value: object) -> TypeGuard[int]:
    """An integer claim (a JSON number without a fraction; not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_nonempty_str(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value)
