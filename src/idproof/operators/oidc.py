"""OpenID Connect relying party: discovery, PKCE, code exchange and id_token validation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import KeySet

from idproof.core.ids import random_token


class OidcError(Exception):
    """A refused single sign-on step; `code` is stable and shown on the page and audited."""

    def __init__(self, code: str, status: int = 400) -> None:
        super().__init__(code)
        self.code = code
        self.status = status


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class Pending:
    """What the browser carries (sealed) between the redirect and the callback."""

    state: str
    nonce: str
    verifier: str
    expires: float
    # A step-up names the console session it confirms and the page to go back to.
    session_id: str | None = None
    next: str = "/console/"

    @staticmethod
    def new(now: float, ttl: float = 600, *, session_id: str | None = None,
            next: str = "/console/") -> Pending:
        return Pending(random_token(24), random_token(24), random_token(48), now + ttl,
                       session_id, next)


def check_claims(claims: Mapping[str, Any], *, issuer: str, client_id: str, nonce: str,
                 now: float, leeway: int) -> None:
    """The id_token rules of OIDC Core 3.1.3.7 after the signature; raises OidcError."""
    if claims.get("iss") != issuer:
        raise OidcError("oidc_wrong_issuer")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if client_id not in audiences:
        raise OidcError("oidc_wrong_audience")
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise OidcError("oidc_wrong_audience")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise OidcError("oidc_bad_token")
    if exp + leeway <= now:
        raise OidcError("oidc_token_expired")
    if iat - leeway > now:
        raise OidcError("oidc_token_not_yet_valid")
    got = claims.get("nonce")
    if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
        raise OidcError("oidc_nonce_mismatch")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise OidcError("oidc_bad_token")


def verify_id_token(raw: str, keys: KeySet, algorithms: list[str]) -> dict[str, Any]:
    """The claims of a signed id_token; only the pinned algorithms are accepted."""
    try:
        token = jwt.decode(raw, keys, algorithms=algorithms)
    except BadSignatureError:
        raise OidcError("oidc_bad_signature") from None
    except (JoseError, ValueError, KeyError, TypeError):
        raise OidcError("oidc_bad_token") from None
    return dict(token.claims)


class OidcProvider:
    """One configured identity provider, its metadata and keys fetched lazily and cached."""

    def __init__(self, issuer: str, client_id: str, client_secret: str | None, *,
                 redirect_uri: str, scopes: str, algorithms: list[str], timeout: float,
                 leeway: int) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.redirect_uri = redirect_uri
        self.scopes = scopes
        self.algorithms = algorithms
        self.leeway = leeway
        self._http = httpx.Client(timeout=timeout, follow_redirects=False)
        self._lock = threading.Lock()
        self._meta: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    def close(self) -> None:
        self._http.close()

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            r = self._http.get(url, headers={"Accept": "application/json"})
            r.raise_for_status()
            data = r.json()
        except (httpx.HTTPError, ValueError):
            raise OidcError("oidc_provider_unavailable", 502) from None
        if not isinstance(data, dict):
            raise OidcError("oidc_provider_unavailable", 502)
        return data

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._meta is None:
                meta = self._get_json(f"{self.issuer}/.well-known/openid-configuration")
                # Discovery must name the issuer we trust (OIDC Discovery 4.3).
                if meta.get("issuer", "").rstrip("/") != self.issuer:
                    raise OidcError("oidc_provider_unavailable", 502)
                self._meta = meta
            return self._meta

    def keys(self, *, refresh: bool = False) -> KeySet:
        with self._lock:
            cached = self._keys
        if cached is not None and not refresh:
            return cached
        data = self._get_json(str(self.metadata()["jwks_uri"]))
        try:
            keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError, TypeError):
            raise OidcError("oidc_provider_unavailable", 502) from None
        with self._lock:
            self._keys = keys
        return keys

    def authorization_url(self, pending: Pending) -> str:
        query = urlencode({
            "response_type": "code", "client_id": self.client_id,
            "redirect_uri": self.redirect_uri, "scope": self.scopes, "state": pending.state,
            "nonce": pending.nonce, "code_challenge": pkce_challenge(pending.verifier),
            "code_challenge_method": "S256",
            # A step-up: the provider must authenticate the person again, now.
            **({"prompt": "login", "max_age": "0"} if pending.session_id else {})})
        return f"{self.metadata()['authorization_endpoint']}?{query}"

    def exchange(self, code: str, verifier: str) -> str:
        """The raw id_token for an authorization code; the provider refuses a replayed one."""
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.redirect_uri, "code_verifier": verifier}
        # client_secret_basic for a confidential client; a public one names itself.
        auth = httpx.BasicAuth(self.client_id, self._secret) if self._secret else None
        if auth is None:
            form["client_id"] = self.client_id
        try:
            r = self._http.post(str(self.metadata()["token_endpoint"]), data=form,
                                auth=auth or httpx.USE_CLIENT_DEFAULT,
                                headers={"Accept": "application/json"})
        except httpx.HTTPError:
            raise OidcError("oidc_provider_unavailable", 502) from None
        if r.status_code != 200:
            raise OidcError("oidc_code_rejected")
        try:
            raw = r.json().get("id_token")
        except ValueError:
            raw = None
        if not isinstance(raw, str):
            raise OidcError("oidc_bad_token")
        return raw

    def validate(self, raw: str, nonce: str, now: float) -> dict[str, Any]:
        try:
            claims = verify_id_token(raw, self.keys(), self.algorithms)
        except OidcError as exc:
            if exc.code != "oidc_bad_token":
                raise
            # An unknown key id: the provider may have rotated its keys; fetch them once.
            claims = verify_id_token(raw, self.keys(refresh=True), self.algorithms)
        check_claims(claims, issuer=self.issuer, client_id=self.client_id, nonce=nonce,
                     now=now, leeway=self.leeway)
        return claims
