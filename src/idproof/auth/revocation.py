"""Revoked access tokens: stored in the database, read by every replica through a short poll.

Instead of a query per request, each process polls for revocations newer than the last it saw
every `refresh_seconds`, so a revocation reaches every replica within that time.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.exc import IntegrityError

from idproof.auth.models import RevokedToken
from idproof.core.clock import Clock, SystemClock
from idproof.db.engine import Database

# Rows committed slightly out of order (clock skew between replicas, long transactions) are
# still caught by re-reading a small overlap behind the high-water mark.
_OVERLAP = timedelta(seconds=30)


class RevocationList:
    def __init__(self, db: Database, refresh_seconds: float = 2.0,
                 clock: Clock | None = None) -> None:
        self._db = db
        self._refresh = refresh_seconds
        self._clock = clock or SystemClock()
        self._revoked: dict[str, datetime] = {}
        self._high_water: datetime | None = None
        self._next_poll = 0.0
        self._lock = threading.Lock()

    def revoke(self, jti: str, tenant_id: str, expires_at: datetime) -> None:
        now = self._clock.now()
        if expires_at <= now:
            return  # already dead; nothing to remember
        try:
            with self._db.session() as s:
                s.add(RevokedToken(jti=jti, tenant_id=tenant_id, revoked_at=now,
                                   expires_at=expires_at))
        except IntegrityError:
            pass  # revoked before: RFC 7009 says revocation is idempotent
        with self._lock:
            self._revoked[jti] = expires_at

    def is_revoked(self, jti: str) -> bool:
        if time.monotonic() >= self._next_poll:
            self._poll()
        return jti in self._revoked

    def poll_due(self) -> bool:
        """True when the next `is_revoked` would read the database first (a coroutine then
        calls `refresh` in a worker thread, so that the event loop never waits on it)."""
        return time.monotonic() >= self._next_poll

    def refresh(self) -> None:
        """Read the revocations newer than the last seen, if the poll is due."""
        if self.poll_due():
            self._poll()

    def ahead_due(self) -> bool:
        """True in the second half of the interval: time to poll ahead (`refresh_ahead`, off
        the request path), so that a busy process's requests never find the poll due."""
        return time.monotonic() >= self._next_poll - self._refresh / 2

    def refresh_ahead(self) -> None:
        """Poll now if `ahead_due` (another thread may just have)."""
        self._poll(ahead=True)

    def _poll(self, *, ahead: bool = False) -> None:
        with self._lock:
            if time.monotonic() < self._next_poll - (self._refresh / 2 if ahead else 0.0):
                return
            now = self._clock.now()
            stmt = select(RevokedToken.jti, RevokedToken.expires_at, RevokedToken.revoked_at)
            if self._high_water is not None:
                stmt = stmt.where(RevokedToken.revoked_at >= self._high_water - _OVERLAP)
            else:
                stmt = stmt.where(RevokedToken.expires_at > now)
            with self._db.read() as s:
                rows = s.execute(stmt).all()
            for jti, exp, revoked_at in rows:
                self._revoked[jti] = exp
                if self._high_water is None or revoked_at > self._high_water:
                    self._high_water = revoked_at
            if self._high_water is None:
                self._high_water = now
            for jti in [j for j, exp in self._revoked.items() if exp <= now]:
                del self._revoked[jti]
            self._next_poll = time.monotonic() + self._refresh

    def purge_expired(self) -> int:
        with self._db.session() as s:
            result = cast(CursorResult[Any], s.execute(
                delete(RevokedToken).where(RevokedToken.expires_at <= self._clock.now())))
            return int(result.rowcount or 0)
