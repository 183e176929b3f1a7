"""TOTP (RFC 6238) verification with a replay window: each 30 s step is accepted once only."""

from __future__ import annotations

import hmac

import pyotp

STEP_SECONDS = 30
DIGITS = 6
# Steps either side of now that are accepted (clock drift between phone and server).
DRIFT_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def matching_step(secret: str, code: str, now: float, last_step: int | None) -> int | None:
    """The time step `code` belongs to, or None when it is wrong, expired or already used.

    Steps at or before `last_step` (the newest step accepted before) are refused, even when
    the code is right and still inside its 30 s window: a code is accepted once only.
    """
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int(now // STEP_SECONDS)
    found: int | None = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Compare every candidate (constant work whatever matches).
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code) and found is None:
            found = step
    if found is None or (last_step is not None and found <= last_step):
        return None
    return found
