"""Browser sessions: the cookie's stored hash and a new session for a device taking a link."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from idproof.core.ids import new_id, random_token
from idproof.hosted.models import BrowserSession

BROWSER_SESSION_TTL = timedelta(hours=1)


def cookie_hash(cookie: str) -> str:
    return hashlib.sha256(b"idproof/hosted-cookie/v1/" + cookie.encode()).hexdigest()


def start_browser_session(s: Session, *, session_id: str, tenant_id: str,
                          session_expires: datetime, now: datetime) -> tuple[str, str]:
    """Add a browser session for one device; returns (its id, the cookie value). The cookie
    ends with the verification session or after an hour, whichever comes first."""
    value = random_token(32)
    row = BrowserSession(id=new_id("hbs"), cookie_hash=cookie_hash(value),
                         session_id=session_id, tenant_id=tenant_id, created_at=now,
                         expires_at=min(session_expires, now + BROWSER_SESSION_TTL))
    s.add(row)
    return row.id, value
