"""One-time codes for the e-mail and phone steps: issue, resend cooldown, verify (pure)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class OtpPolicy:
    """The issue's numbers: 6 digits, 10 minutes, 5 attempts, a resend cooldown, and a cap
    on sends per session so a flood of resends reaches nobody's inbox."""

    digits: int = 6
    ttl_seconds: int = 600
    max_attempts: int = 5
    resend_cooldown_seconds: int = 30
    max_sends: int = 5


class OtpError(ValueError):
    """A refused send or check; `code` is stable and goes into the problem+json."""

    def __init__(self, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class OtpState:
    """What is kept of a code: its keyed hash (never the code), when it was sent and ends,
    the wrong guesses so far, how many were sent, and whether it was used."""

    digest: str
    issued_at: float
    expires_at: float
    attempts: int = 0
    sends: int = 1
    verified: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OtpState:
        return cls(**data)


def code_digest(key: bytes, scope: str, code: str) -> str:
    """HMAC-SHA256 of the code bound to its scope (session and channel), so a stolen store
    row is no code and a code of one session is nothing in another."""
    return hmac.new(key, f"{scope}\x00{code}".encode(), hashlib.sha256).hexdigest()


def new_code(policy: OtpPolicy) -> str:
    return f"{secrets.randbelow(10 ** policy.digits):0{policy.digits}d}"


def issue(prev: OtpState | None, key: bytes, scope: str, now: float,
          policy: OtpPolicy = OtpPolicy()) -> tuple[OtpState, str]:
    """A new code (the previous one stops working), or OtpError when it is too soon after
    the last send (`otp_resend_too_soon`), the session sent too many (`otp_send_limit`) or
    the address is confirmed already (`otp_already_verified`)."""
    sends = 1
    if prev is not None:
        if prev.verified:
            raise OtpError("otp_already_verified", "this step is confirmed already")
        wait = prev.issued_at + policy.resend_cooldown_seconds - now
        if wait > 0:
            raise OtpError("otp_resend_too_soon", "a code was sent moments ago; wait before "
                           "asking for another", retry_after=max(1, int(wait + 0.999)))
        if prev.sends >= policy.max_sends:
            raise OtpError("otp_send_limit", f"at most {policy.max_sends} codes are sent per "
                                             "session")
        sends = prev.sends + 1
    code = new_code(policy)
    state = OtpState(code_digest(key, scope, code), now, now + policy.ttl_seconds, 0, sends)
    return state, code


def check(state: OtpState | None, key: bytes, scope: str, code: str, now: float,
          policy: OtpPolicy = OtpPolicy()) -> OtpState:
    """The state after a guess: `verified` when right. Raises OtpError (with the state to
    keep in `OtpCheckFailed.state`) when wrong, expired, exhausted or replayed."""
    if state is None:
        raise OtpError("otp_not_sent", "no code was sent for this step")
    if state.verified:
        raise OtpError("otp_replayed", "this code was used already")
    if state.attempts >= policy.max_attempts:
        raise OtpError("otp_too_many_attempts", "too many wrong codes: ask for a new one")
    if now >= state.expires_at:
        raise OtpError("otp_expired", "the code has expired: ask for a new one")
    well_formed = len(code) == policy.digits and code.isascii() and code.isdigit()
    # Compared in constant time whatever was typed, so timing tells nothing of the code.
    ok = hmac.compare_digest(code_digest(key, scope, code if well_formed else ""),
                             state.digest) and well_formed
    if ok:
        return replace(state, verified=True)
    raise OtpCheckFailed(replace(state, attempts=state.attempts + 1), policy)


class OtpCheckFailed(OtpError):
    """A wrong code: `state` counts the attempt and must be stored before answering."""

    def __init__(self, state: OtpState, policy: OtpPolicy) -> None:
        left = max(0, policy.max_attempts - state.attempts)
        super().__init__("otp_wrong", f"the code is not right ({left} attempts left)")
        self.state = state
        self.attempts_left = left
