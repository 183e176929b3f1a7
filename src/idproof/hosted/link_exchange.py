"""The session link's exchange: used once, for a random cookie whose SHA-256 alone is kept.

The link is claimed through `SessionService.claim_link` (a conditional UPDATE), so two devices
racing on one link cannot both win; a reload from the browser that holds the cookie is let
through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.auth.clients import ClientService
from idproof.core.clock import Clock
from idproof.core.errors import IdproofError
from idproof.db.engine import Database
from idproof.hosted.browser import cookie_hash, start_browser_session
from idproof.hosted.models import BrowserSession
from idproof.verification.lifecycle import FINAL, Status
from idproof.verification.links import LinkSigner
from idproof.verification.models import VerificationSession
from idproof.verification.service import SessionService


@dataclass(frozen=True, slots=True)
class Opened:
    """The outcome of opening a link: `ok` (with a new cookie, or None when this browser
    already holds one), or `invalid`, `used`, `ended`, or `elsewhere` (the session's tenant
    is served by another region: `region` names it)."""

    outcome: str
    cookie: str | None = None
    origins: tuple[str, ...] = ()  # who may frame the answer page (the client's origins)
    region: str | None = None


class LinkExchange:
    def __init__(self, db: Database, audit: AuditService, links: LinkSigner,
                 clients: ClientService, sessions: SessionService, clock: Clock,
                 tenant_check: Callable[[str], None] | None = None) -> None:
        self._db = db
        self._sessions = sessions
        self._tenant_check = tenant_check or (lambda _t: None)
        self._audit = audit
        self._links = links
        self._clients = clients
        self._clock = clock

    def open_link(self, token: str, *, cookie: str | None, ip: str | None,
                  request_id: str | None) -> Opened:
        session_id = self._links.session_id(token)
        if session_id is None:
            return Opened("invalid")
        now = self._clock.now()
        with self._db.session() as s:
            row = s.get(VerificationSession, session_id)
            if row is None:
                return Opened("invalid")
            elsewhere = self._elsewhere(row.tenant_id)
            if elsewhere is not None:
                return elsewhere  # nothing written: the link stays unused
            if cookie:
                held = s.scalar(select(BrowserSession).where(
                    BrowserSession.cookie_hash == cookie_hash(cookie)))
                if held is not None and held.session_id == row.id and held.expires_at > now:
                    return Opened("ok")  # this browser opened it already: a reload
            client = self._clients.get(row.client_id) if row.client_id else None
            origins = client.allowed_origins if client is not None else ()
            if Status(row.status) in FINAL or row.expires_at <= now:
                return Opened("ended", origins=origins)
            if not self._sessions.claim_link(s, row):
                self._audit.record_in(s, AuditEvent(
                    action="hosted.link_reused", outcome="failure", actor_type="end_user",
                    tenant_id=row.tenant_id, target_type="session", target_id=row.id, ip=ip,
                    request_id=request_id))
                return Opened("used", origins=origins)
            # Housekeeping where it is cheap: browser sessions past their end go when a new
            # one starts (one small DELETE per opened link, a rare event).
            s.execute(delete(BrowserSession).where(BrowserSession.expires_at <= now))
            browser_id, value = start_browser_session(
                s, session_id=row.id, tenant_id=row.tenant_id, session_expires=row.expires_at,
                now=now)
            self._audit.record_in(s, AuditEvent(
                action="hosted.link_opened", actor_type="end_user", actor_id=browser_id,
                tenant_id=row.tenant_id, target_type="session", target_id=row.id, ip=ip,
                request_id=request_id))
        return Opened("ok", value)

    def peek_link(self, token: str) -> Opened:
        """What opening the link would answer, without using it up (for a page that cannot
        keep the cookie, such as a cross-site frame, which hands off to a window instead)."""
        session_id = self._links.session_id(token)
        if session_id is None:
            return Opened("invalid")
        with self._db.read() as s:
            row = s.get(VerificationSession, session_id)
            if row is None:
                return Opened("invalid")
            elsewhere = self._elsewhere(row.tenant_id)
            if elsewhere is not None:
                return elsewhere
            client = self._clients.get(row.client_id) if row.client_id else None
            origins = client.allowed_origins if client is not None else ()
            if Status(row.status) in FINAL or row.expires_at <= self._clock.now():
                return Opened("ended", origins=origins)
            if row.link_used_at is not None:
                return Opened("used", origins=origins)
            return Opened("ok", origins=origins)

    def _elsewhere(self, tenant_id: str) -> Opened | None:
        """`elsewhere` when residency refuses the tenant at this deployment, else None."""
        try:
            self._tenant_check(tenant_id)
        except IdproofError as exc:
            region = exc.extra.get("region")
            return Opened("elsewhere", region=str(region) if region else None)
        return None
