"""The privacy package's consent texts, records and withdrawal, as the hosted pages use them.

Passed to `HostedService` by `bootstrap.py` (hosted does not import privacy, which sits beside
it): the tenant's current consent text for a locale, the record of an acceptance (kept with
its IP, in the transaction that records the consent), and the subject's withdrawal, which
cancels open sessions and erases per the tenant's policy (`privacy.consent.ConsentService`).
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session

from idproof.verification.models import VerificationSession
from idproof.verification.service import Actor


class _Text(Protocol):
    @property
    def version(self) -> str: ...

    @property
    def text(self) -> str: ...


class ConsentKeeper(Protocol):
    """What the privacy package's consent service offers the hosted pages."""

    def current(self, tenant_id: str, locale: str) -> _Text | None: ...

    def record(self, s: Session, row: VerificationSession, *, version: str, locale: str,
               ip: str | None) -> None: ...

    def withdraw(self, actor: Actor, reference: str) -> Any: ...


class PrivacyHooks:
    """The consent keeper, or the pages' built-in behaviour when none is given."""

    def __init__(self, keeper: ConsentKeeper | None = None) -> None:
        self._keeper = keeper

    def consent_text(self, tenant_id: str, locale: str) -> tuple[str, str] | None:
        """(version, text) of the tenant's consent text for the locale, or None (the
        built-in text of the pages applies)."""
        found = self._keeper.current(tenant_id, locale) if self._keeper is not None else None
        return (found.version, found.text) if found is not None else None

    def record(self, s: Session, row: VerificationSession, actor: Actor, *, version: str,
               locale: str) -> None:
        """Keep the acceptance (with the person's IP) in the consent's transaction."""
        if self._keeper is not None:
            self._keeper.record(s, row, version=version, locale=locale, ip=actor.ip)

    @property
    def can_withdraw(self) -> bool:
        return self._keeper is not None

    def withdraw(self, actor: Actor, reference: str) -> None:
        if self._keeper is None:
            raise RuntimeError("consent withdrawal is not connected")
        self._keeper.withdraw(actor, reference)
