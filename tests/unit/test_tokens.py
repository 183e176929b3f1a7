"""Minting and verifying access tokens, including every refusal the verifier must make."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt
from joserfc.jwk import OctKey, OKPKey, RSAKey

from idproof.auth import tokens
from idproof.auth.signing_keys import KeySet

ISS, AUD = "https://id.example", "idproof-api"


def keyset(kid: str = "k1") -> KeySet:
    key = OKPKey.import_key(Ed25519PrivateKey.generate())
    return KeySet(current_kid=kid, current=key,
                  verifying={kid: OKPKey.import_key(key.as_dict(private=False))})


def b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


@pytest.fixture
def ks() -> KeySet:
    return keyset()


def mint(ks: KeySet, now: int | None = None, ttl: int = 600) -> str:
    token, _ = tokens.mint(ks, issuer=ISS, audience=AUD, client_id="cli_a", tenant_id="ten_a",
                           scopes=["identity.verify"], now=now or int(time.time()), ttl=ttl)
    return token


def verify(ks: KeySet, token: str, now: int | None = None, **kw: object) -> tokens.AccessClaims:
    args: dict[str, object] = {"issuer": ISS, "audience": AUD, "leeway": 30,
                               "max_bytes": 4096, "now": now or int(time.time())}
    args.update(kw)
    return tokens.verify(token, ks.verifying.get, **args)  # type: ignore[arg-type]


def reason(ks: KeySet, token: str, **kw: object) -> str:
    with pytest.raises(tokens.InvalidToken) as exc:
        verify(ks, token, **kw)
    return exc.value.reason


def test_round_trip(ks: KeySet) -> None:
    token = mint(ks)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "EdDSA", "typ": "at+jwt", "kid": "k1"}
    claims = verify(ks, token)
    assert claims.client_id == "cli_a" and claims.tenant_id == "ten_a"
    assert claims.scopes == ("identity.verify",)
    assert claims.expires_at - claims.issued_at == 600
    for name in ("iss", "sub", "aud", "scope", "tenant", "iat", "exp", "jti"):
        assert name in claims.claims
    # every token gets its own jti
    assert verify(ks, mint(ks)).jti != claims.jti


def test_alg_none_refused(ks: KeySet) -> None:
    good = mint(ks)
    payload = good.split(".")[1]
    forged = f"{b64({'alg': 'none', 'typ': 'at+jwt', 'kid': 'k1'})}.{payload}."
    assert reason(ks, forged) == "malformed"  # empty signature segment
    forged2 = f"{b64({'alg': 'none', 'typ': 'at+jwt', 'kid': 'k1'})}.{payload}.x"
    assert reason(ks, forged2) == "bad_alg"


def test_hs256_with_public_key_as_secret_refused(ks: KeySet) -> None:
    # The classic confusion attack: sign HS256 with the public key bytes as the HMAC secret.
    pub = ks.verifying["k1"].as_dict()["x"]
    secret = OctKey.import_key(pub.encode())
    claims = json.loads(base64.urlsafe_b64decode(mint(ks).split(".")[1] + "=="))
    forged = jwt.encode({"alg": "HS256", "typ": "at+jwt", "kid": "k1"}, claims, secret,
                        algorithms=["HS256"])
    assert reason(ks, forged) == "bad_alg"


def test_rs256_refused(ks: KeySet) -> None:
    rsa = RSAKey.generate_key(2048)
    claims = json.loads(base64.urlsafe_b64decode(mint(ks).split(".")[1] + "=="))
    forged = jwt.encode({"alg": "RS256", "typ": "at+jwt", "kid": "k1"}, claims, rsa,
                        algorithms=["RS256"])
    assert reason(ks, forged) == "bad_alg"


def test_unknown_kid_and_other_key_refused(ks: KeySet) -> None:
    other = keyset("k2")
    assert reason(ks, mint(other)) == "unknown_kid"
    # same kid, different key: signature fails
    impostor = keyset("k1")
    assert reason(ks, mint(impostor)) == "bad_signature"


@pytest.mark.parametrize("header", ["jku", "jwk", "x5u", "x5c"])
def test_key_carrying_headers_refused(ks: KeySet, header: str) -> None:
    claims = json.loads(base64.urlsafe_b64decode(mint(ks).split(".")[1] + "=="))
    value: object = ks.verifying["k1"].as_dict() if header == "jwk" else (
        ["MIIB"] if header == "x5c" else "https://evil.example/keys")
    forged = jwt.encode({"alg": "EdDSA", "typ": "at+jwt", "kid": "k1", header: value}, claims,
                        ks.current, algorithms=["EdDSA"])
    assert reason(ks, forged) == "forbidden_header"


def test_expired_and_not_yet_valid(ks: KeySet) -> None:
    now = int(time.time())
    old = mint(ks, now=now - 1000, ttl=600)
    assert reason(ks, old, now=now) == "expired"
    # within leeway still fine
    edge = mint(ks, now=now - 620, ttl=600)
    assert verify(ks, edge, now=now).client_id == "cli_a"
    future = mint(ks, now=now + 300)
    assert reason(ks, future, now=now) == "not_yet_valid"


def test_wrong_issuer_and_audience(ks: KeySet) -> None:
    token = mint(ks)
    assert reason(ks, token, issuer="https://other.example") == "bad_issuer"
    assert reason(ks, token, audience="another-api") == "bad_audience"


def test_oversized_and_malformed(ks: KeySet) -> None:
    assert reason(ks, "a" * 5000) == "too_large"
    assert reason(ks, "not-a-jwt") == "malformed"
    assert reason(ks, "a.b.c") == "malformed"
    assert reason(ks, f"{b64([1, 2])}.e30.sig") == "malformed"


def test_tampered_payload_and_signature(ks: KeySet) -> None:
    h, p, s = mint(ks).split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=="))
    claims["scope"] = "identity.read_pii"
    assert reason(ks, f"{h}.{b64(claims)}.{s}") == "bad_signature"
    flipped = s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1]
    assert reason(ks, f"{h}.{p}.{flipped}") == "bad_signature"


def test_wrong_typ_refused(ks: KeySet) -> None:
    claims = json.loads(base64.urlsafe_b64decode(mint(ks).split(".")[1] + "=="))
    other = jwt.encode({"alg": "EdDSA", "typ": "JWT", "kid": "k1"}, claims, ks.current,
                       algorithms=["EdDSA"])
    assert reason(ks, other) == "bad_typ"


def test_missing_claims_refused(ks: KeySet) -> None:
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 60, "scope": "x"}
    token = jwt.encode({"alg": "EdDSA", "typ": "at+jwt", "kid": "k1"}, claims, ks.current,
                       algorithms=["EdDSA"])
    assert reason(ks, token) == "malformed_claims"


def test_minted_token_is_a_standard_compact_jws(ks: KeySet) -> None:
    """The hand-serialized JWS is what joserfc (and any JOSE library) reads and verifies."""
    token, claims = tokens.mint(ks, issuer=ISS, audience=AUD, client_id="cli_a",
                                tenant_id="ten_a", scopes=["identity.verify"],
                                now=int(time.time()), ttl=600)
    decoded = jwt.decode(token, ks.verifying["k1"], algorithms=["EdDSA"])
    assert decoded.header == {"alg": "EdDSA", "typ": "at+jwt", "kid": "k1"}
    assert decoded.claims == claims.claims
    assert "=" not in token and token.count(".") == 2
    head, body, sig = token.split(".")
    other = "A" if sig[0] != "A" else "B"
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(f"{head}.{body}.{other}{sig[1:]}", ks.verifying.get, issuer=ISS,
                      audience=AUD, now=int(time.time()), leeway=0, max_bytes=4096)


def test_compact_jws_refuses_another_algorithm(ks: KeySet) -> None:
    with pytest.raises(ValueError, match="EdDSA"):
        tokens.compact_jws({"alg": "HS256", "typ": "at+jwt"}, {"sub": "x"}, ks.current)
