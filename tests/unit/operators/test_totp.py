"""TOTP: right code accepted once; replay refused inside its step; drift and expiry."""

from __future__ import annotations

import pyotp

from idproof.operators.totp import STEP_SECONDS, matching_step, new_secret, provisioning_uri

NOW = 1_800_000_000.0


def test_right_code_accepted_then_replay_refused() -> None:
    secret = new_secret()
    code = pyotp.TOTP(secret).at(NOW)
    step = matching_step(secret, code, NOW, None)
    assert step == int(NOW // STEP_SECONDS)
    # The same code again, even a second later in the same 30 s step: refused.
    assert matching_step(secret, code, NOW + 1, step) is None
    # The next step's code is fine.
    nxt = pyotp.TOTP(secret).at(NOW + STEP_SECONDS)
    assert matching_step(secret, nxt, NOW + STEP_SECONDS, step) == step + 1


def test_older_step_refused_after_a_newer_one() -> None:
    secret = new_secret()
    newer = matching_step(secret, pyotp.TOTP(secret).at(NOW), NOW, None)
    older = pyotp.TOTP(secret).at(NOW - STEP_SECONDS)
    assert matching_step(secret, older, NOW, newer) is None


def test_drift_of_one_step_and_expiry() -> None:
    secret = new_secret()
    previous = pyotp.TOTP(secret).at(NOW - STEP_SECONDS)
    assert matching_step(secret, previous, NOW, None) is not None
    stale = pyotp.TOTP(secret).at(NOW - 3 * STEP_SECONDS)
    assert matching_step(secret, stale, NOW, None) is None


def test_wrong_and_malformed_codes() -> None:
    secret = new_secret()
    code = pyotp.TOTP(secret).at(NOW)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert matching_step(secret, wrong, NOW, None) is None
    for bad in ["", "12345", "1234567", "abcdef"]:
        assert matching_step(secret, bad, NOW, None) is None
    assert matching_step(secret, f"{code[:3]} {code[3:]}", NOW, None) is not None


def test_provisioning_uri() -> None:
    uri = provisioning_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", account="opr_1", issuer="idproof")
    assert uri.startswith("otpauth://totp/") and "secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" in uri
