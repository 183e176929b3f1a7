"""One-time codes: issue, cooldown, send cap, expiry, attempts, replay; the store's atomicity."""

from __future__ import annotations

import pytest

from idproof.workflows.steps.otp import (
    OtpCheckFailed,
    OtpError,
    OtpPolicy,
    check,
    code_digest,
    issue,
)
from idproof.workflows.steps.otp_store import MemoryOtpStore

KEY = b"k" * 32
P = OtpPolicy()


def test_a_code_is_six_digits_and_only_its_keyed_hash_is_kept() -> None:
    state, code = issue(None, KEY, "s1:email", 1000.0)
    assert len(code) == 6 and code.isdigit()
    assert code not in repr(state.as_dict())
    assert state.digest == code_digest(KEY, "s1:email", code)
    assert state.expires_at == 1000.0 + 600
    assert code_digest(KEY, "s2:email", code) != state.digest  # bound to its scope
    assert code_digest(b"x" * 32, "s1:email", code) != state.digest  # and to the key


def test_the_right_code_verifies_once_then_is_a_replay() -> None:
    state, code = issue(None, KEY, "s", 0.0)
    done = check(state, KEY, "s", code, 10.0)
    assert done.verified
    with pytest.raises(OtpError) as exc:
        check(done, KEY, "s", code, 11.0)
    assert exc.value.code == "otp_replayed"


def test_wrong_codes_count_and_five_exhaust_the_code() -> None:
    state, code = issue(None, KEY, "s", 0.0)
    wrong = "000000" if code != "000000" else "111111"
    for n in range(1, 6):
        with pytest.raises(OtpCheckFailed) as exc:
            check(state, KEY, "s", wrong, 1.0)
        state = exc.value.state
        assert state.attempts == n and exc.value.attempts_left == 5 - n
    with pytest.raises(OtpError) as exc2:
        check(state, KEY, "s", code, 2.0)  # even the right code: the code is spent
    assert exc2.value.code == "otp_too_many_attempts"


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "12a456", "١٢٣٤٥٦", " 12345"])
def test_malformed_codes_are_wrong_attempts(typed: str) -> None:
    state, _ = issue(None, KEY, "s", 0.0)
    with pytest.raises(OtpCheckFailed) as exc:
        check(state, KEY, "s", typed, 1.0)
    assert exc.value.code == "otp_wrong" and exc.value.state.attempts == 1


def test_a_code_expires_after_ten_minutes() -> None:
    state, code = issue(None, KEY, "s", 0.0)
    assert check(state, KEY, "s", code, 599.0).verified
    with pytest.raises(OtpError) as exc:
        check(state, KEY, "s", code, 600.0)
    assert exc.value.code == "otp_expired"


def test_check_without_a_send() -> None:
    with pytest.raises(OtpError) as exc:
        check(None, KEY, "s", "123456", 0.0)
    assert exc.value.code == "otp_not_sent"


def test_resend_waits_for_the_cooldown_replaces_the_code_and_is_capped() -> None:
    state, first = issue(None, KEY, "s", 0.0)
    with pytest.raises(OtpError) as exc:
        issue(state, KEY, "s", 10.0)
    assert exc.value.code == "otp_resend_too_soon" and exc.value.retry_after == 20
    now = 0.0
    for sends in range(2, 6):
        now += 31
        state, code = issue(state, KEY, "s", now)
        assert state.sends == sends and state.attempts == 0
    if code != first:
        with pytest.raises(OtpCheckFailed):
            check(state, KEY, "s", first, now + 1)  # the old code no longer works
    with pytest.raises(OtpError) as exc:
        issue(state, KEY, "s", now + 31)
    assert exc.value.code == "otp_send_limit"


def test_no_resend_after_verification() -> None:
    state, code = issue(None, KEY, "s", 0.0)
    state = check(state, KEY, "s", code, 1.0)
    with pytest.raises(OtpError) as exc:
        issue(state, KEY, "s", 100.0)
    assert exc.value.code == "otp_already_verified"


def test_memory_store_keeps_counted_attempts_when_the_check_raises() -> None:
    store = MemoryOtpStore()
    code = store.update("s", lambda prev: issue(prev, KEY, "s", 0.0))
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(OtpCheckFailed):
        store.update("s", lambda st: (check(st, KEY, "s", wrong, 1.0), None))
    state = store.update("s", lambda st: (None, st))
    assert state is not None and state.attempts == 1
