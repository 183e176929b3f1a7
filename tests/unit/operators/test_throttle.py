"""Sign-in throttle: slowing after 5 failures, a 15 min lock after 10, per account and IP."""

from __future__ import annotations

from idproof.operators.throttle import Limits, SignInThrottle, delay_after

NOW = 1_800_000_000.0


def test_delay_schedule() -> None:
    assert [delay_after(n, 5, 60) for n in range(1, 13)] == [0, 0, 0, 0, 1, 2, 4, 8, 16, 32,
                                                              60, 60]


def test_slowed_then_locked() -> None:
    t = SignInThrottle("memory://", b"k" * 32, Limits())
    now = NOW
    for i in range(1, 10):
        assert t.check("a@example.com", "10.0.0.1", now) is None
        out = t.failure("a@example.com", "10.0.0.1", now)
        assert out.failures == i and not out.locked_now
        refusal = t.check("a@example.com", "10.0.0.2", now)
        if i < 5:
            assert refusal is None
        else:
            assert refusal is not None and refusal.reason == "slowed"
            now += refusal.retry_after
    out = t.failure("A@Example.com ", "10.0.0.1", now)  # same account, any spelling
    assert out.locked_now
    refusal = t.check("a@example.com", "10.0.0.9", now + 60)
    assert refusal is not None and refusal.reason == "locked"
    assert 800 < refusal.retry_after <= 900
    assert t.check("a@example.com", "10.0.0.9", now + 901) is None
    # Another account is not affected.
    assert t.check("b@example.com", "10.0.0.9", now) is None


def test_success_clears_the_account() -> None:
    t = SignInThrottle("memory://", b"k" * 32, Limits())
    for _ in range(6):
        t.failure("a@example.com", None, NOW)
    t.success("a@example.com")
    assert t.check("a@example.com", None, NOW) is None


def test_ip_counts_across_accounts() -> None:
    t = SignInThrottle("memory://", b"k" * 32, Limits(ip_slow_after=3, ip_lock_after=5))
    for i in range(5):
        out = t.failure(f"u{i}@example.com", "10.0.0.1", NOW)
    assert out.ip_locked_now
    refusal = t.check("new@example.com", "10.0.0.1", NOW)
    assert refusal is not None and refusal.reason == "locked"
    assert t.check("new@example.com", "10.0.0.2", NOW) is None


def test_no_email_in_storage_keys() -> None:
    t = SignInThrottle("memory://", b"k" * 32, Limits())
    key = t.account_key("someone@example.com")
    assert "example" not in key and len(key) == 32
