"""Sign-in brute-force limits per account and per IP: exponential slowing, then a lock.

Counters live in a `limits` storage (memory, or Redis when configured, so every replica sees
the same failures). Accounts are keyed by a keyed hash of the submitted email whether or not
an operator has it, so a refusal says nothing about which emails exist, and no email reaches
the storage. Times come from the caller's clock (testable), expiries are the storage's own.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import cast

from limits.storage import Storage, storage_from_string

_NS = "idproof-op"


@dataclass(frozen=True, slots=True)
class Limits:
    slow_after: int = 5          # failures before each further attempt waits
    lock_after: int = 10         # failures before the account is locked
    lock_seconds: int = 900
    max_delay_seconds: int = 60
    window_seconds: int = 3600   # failures older than this are forgotten
    ip_slow_after: int = 20
    ip_lock_after: int = 50


def delay_after(failures: int, slow_after: int, max_delay: int) -> int:
    """Seconds before the next attempt after `failures` failures: 0, then 1, 2, 4, ... capped."""
    if failures < slow_after:
        return 0
    return int(min(max_delay, 2 ** (failures - slow_after)))


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str          # "locked" or "slowed"
    retry_after: int     # seconds


@dataclass(frozen=True, slots=True)
class FailureOutcome:
    failures: int
    locked_now: bool     # this failure locked the account (write the alert event)
    ip_locked_now: bool


class SignInThrottle:
    def __init__(self, storage_uri: str, key: bytes, limits: Limits | None = None) -> None:
        # storage_from_string is typed for both the sync and the async (`async+...`) storages;
        # the configured URI names a sync one, which the calls below are made on.
        self.storage = cast(Storage, storage_from_string(storage_uri))
        self._key = key
        self.limits = limits or Limits()

    def account_key(self, email: str) -> str:
        return hmac.new(self._key, email.strip().lower().encode(), hashlib.sha256).hexdigest()[:32]

    def _k(self, kind: str, subject: str) -> str:
        return f"{_NS}/{kind}/{subject}"

    def _set(self, key: str, value: int, expiry: int) -> None:
        self.storage.clear(key)
        if value > 0:
            self.storage.incr(key, max(1, expiry), amount=value)

    def check(self, email: str, ip: str | None, now: float) -> Refusal | None:
        """Whether an attempt may be made now (checked before the password is)."""
        subjects = [("acct", self.account_key(email))]
        if ip:
            subjects.append(("ip", ip))
        worst: Refusal | None = None
        for kind, subject in subjects:
            locked = self.storage.get(self._k(kind + "-lock", subject))
            if locked > now:
                refusal = Refusal("locked", max(1, math.ceil(locked - now)))
            else:
                nxt = self.storage.get(self._k(kind + "-next", subject))
                if nxt <= now:
                    continue
                refusal = Refusal("slowed", max(1, math.ceil(nxt - now)))
            if worst is None or (refusal.reason, refusal.retry_after) > (
                    worst.reason, worst.retry_after):
                worst = refusal
        return worst

    def is_locked(self, email: str, now: float) -> bool:
        return self.storage.get(self._k("acct-lock", self.account_key(email))) > now

    def failure(self, email: str, ip: str | None, now: float) -> FailureOutcome:
        lim = self.limits
        account = self.account_key(email)
        failures, locked = self._count("acct", account, now, lim.slow_after, lim.lock_after)
        ip_locked = False
        if ip:
            _, ip_locked = self._count("ip", ip, now, lim.ip_slow_after, lim.ip_lock_after)
        return FailureOutcome(failures, locked, ip_locked)

    def _count(self, kind: str, subject: str, now: float, slow_after: int, lock_after: int
               ) -> tuple[int, bool]:
        lim = self.limits
        failures = self.storage.incr(self._k(kind + "-fail", subject), lim.window_seconds)
        if failures >= lock_after:
            self._set(self._k(kind + "-lock", subject), math.ceil(now + lim.lock_seconds),
                      lim.lock_seconds)
            self.storage.clear(self._k(kind + "-fail", subject))
            self.storage.clear(self._k(kind + "-next", subject))
            return failures, True
        delay = delay_after(failures, slow_after, lim.max_delay_seconds)
        if delay:
            self._set(self._k(kind + "-next", subject), math.ceil(now + delay), delay + 5)
        return failures, False

    def success(self, email: str) -> None:
        account = self.account_key(email)
        for kind in ("acct-fail", "acct-next", "acct-lock"):
            self.storage.clear(self._k(kind, account))

    def unlock(self, email: str) -> None:
        self.success(email)
