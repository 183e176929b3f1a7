"""id_token checks (signature, pinned algorithms, issuer, audience, expiry, nonce) and the
mapping of provider groups and `amr` to roles and MFA, with real keys and no network."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from idproof.config import OidcRoleRule
from idproof.operators.oidc import OidcError, check_claims, verify_id_token
from idproof.operators.sso import map_role, mfa_asserted, subject_hash

ISS, CLIENT, NONCE = "https://idp.example", "idproof-console", "n-0123456789"
NOW = 1_800_000_000.0


def claims(**over: Any) -> dict[str, Any]:
    base = {"iss": ISS, "aud": CLIENT, "sub": "s-1", "nonce": NONCE, "iat": int(NOW) - 5,
            "exp": int(NOW) + 300}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def check(c: dict[str, Any]) -> None:
    check_claims(c, issuer=ISS, client_id=CLIENT, nonce=NONCE, now=NOW, leeway=60)


def test_good_claims_pass() -> None:
    check(claims())
    check(claims(aud=[CLIENT, "other"], azp=CLIENT))
    check(claims(exp=int(NOW) - 30))  # within the allowed skew


@pytest.mark.parametrize(("over", "code"), [
    ({"iss": "https://evil.example"}, "oidc_wrong_issuer"),
    ({"aud": "another-client"}, "oidc_wrong_audience"),
    ({"aud": ["another-client"]}, "oidc_wrong_audience"),
    ({"aud": [CLIENT, "other"]}, "oidc_wrong_audience"),  # several audiences, no azp
    ({"aud": [CLIENT, "other"], "azp": "other"}, "oidc_wrong_audience"),
    ({"exp": int(NOW) - 61}, "oidc_token_expired"),
    ({"iat": int(NOW) + 120}, "oidc_token_not_yet_valid"),
    ({"exp": None}, "oidc_bad_token"),
    ({"nonce": "n-replayed"}, "oidc_nonce_mismatch"),
    ({"nonce": None}, "oidc_nonce_mismatch"),
    ({"sub": ""}, "oidc_bad_token"),
])
def test_bad_claims_refused(over: dict[str, Any], code: str) -> None:
    with pytest.raises(OidcError) as err:
        check(claims(**over))
    assert err.value.code == code


def _sign(key: Any, alg: str, payload: dict[str, Any]) -> str:
    return jwt.encode({"alg": alg, "kid": key.kid}, payload, key)


def test_signature_and_pinned_algorithms() -> None:
    idp = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    other = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    keys = KeySet([idp])
    good = _sign(idp, "ES256", claims())
    assert verify_id_token(good, keys, ["ES256"])["sub"] == "s-1"
    with pytest.raises(OidcError) as err:  # same kid, another key: a forged token
        verify_id_token(_sign(other, "ES256", claims()), keys, ["ES256"])
    assert err.value.code == "oidc_bad_signature"
    head, body, sig = good.split(".")
    tampered = _sign(idp, "ES256", claims(sub="admin")).split(".")[1]
    with pytest.raises(OidcError) as err:  # the payload changed after signing
        verify_id_token(f"{head}.{tampered}.{sig}", keys, ["ES256"])
    assert err.value.code == "oidc_bad_signature"
    with pytest.raises(OidcError):  # an algorithm that is not pinned
        verify_id_token(good, keys, ["RS256"])
    rsa = RSAKey.generate_key(2048, parameters={"kid": "r1"})
    hs = OctKey.generate_key(256, parameters={"kid": "r1"})
    with pytest.raises(OidcError):  # HS256 with a key the attacker chose
        verify_id_token(_sign(hs, "HS256", claims()), KeySet([rsa]), ["RS256", "ES256"])
    unsigned = f"eyJhbGciOiJub25lIn0.{body}."
    with pytest.raises(OidcError):
        verify_id_token(unsigned, keys, ["ES256"])


def test_groups_map_to_the_first_matching_rule() -> None:
    rules = [OidcRoleRule(group="admins", role="admin"),
             OidcRoleRule(group="reviewers", role="reviewer", tenants=["demo"])]
    assert map_role({"groups": ["reviewers", "admins"]}, "groups", rules) is rules[0]
    assert map_role({"groups": ["reviewers"]}, "groups", rules) is rules[1]
    assert map_role({"groups": "reviewers"}, "groups", rules) is rules[1]
    assert map_role({"roles": ["admins"]}, "roles", rules) is rules[0]
    assert map_role({"groups": ["sales"]}, "groups", rules) is None
    assert map_role({"groups": [{"admins": 1}]}, "groups", rules) is None
    assert map_role({}, "groups", rules) is None


def test_amr_decides_whether_mfa_is_asked_locally() -> None:
    assert mfa_asserted({"amr": ["pwd", "mfa"]}, ["mfa"])
    assert mfa_asserted({"amr": ["hwk"]}, ["mfa", "hwk"])
    assert not mfa_asserted({"amr": ["pwd"]}, ["mfa"])
    assert not mfa_asserted({"amr": "mfa"}, ["mfa"])  # not a list: not trusted
    assert not mfa_asserted({}, ["mfa"])


def test_subject_is_stored_hashed_per_issuer() -> None:
    a = subject_hash(ISS, "s-1")
    assert len(a) == 64 and "s-1" not in a
    assert a != subject_hash("https://other.example", "s-1")
    assert a == subject_hash(ISS, "s-1")
