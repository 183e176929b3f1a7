"""The privacy package's consent texts and withdrawal, as the hosted pages use them.

Connected in `bootstrap.py` (hosted does not import privacy, which sits beside it): the
tenant's current consent text for a locale, and the subject's withdrawal, which cancels open
sessions and erases per the tenant's policy (`privacy.consent.ConsentService.withdraw`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from idproof.verification.service import Actor


class _Text(Protocol):
    @property
    def version(self) -> str: ...

    @property
    def text(self) -> str: ...


class PrivacyHooks:
    def __init__(self) -> None:
        self._current: Callable[[str, str], _Text | None] | None = None
        self._withdraw: Callable[[Actor, str], Any] | None = None

    def connect(self, *, current: Callable[[str, str], _Text | None],
                withdraw: Callable[[Actor, str], Any]) -> None:
        self._current, self._withdraw = current, withdraw

    def consent_text(self, tenant_id: str, locale: str) -> tuple[str, str] | None:
        """(version, text) of the tenant's consent text for the locale, or None (the
        built-in text of the pages applies)."""
        found = self._current(tenant_id, locale) if self._current is not None else None
        return (found.version, found.text) if found is not None else None

    @property
    def can_withdraw(self) -> bool:
        return self._withdraw is not None

    def withdraw(self, actor: Actor, reference: str) -> None:
        if self._withdraw is None:
            raise RuntimeError("consent withdrawal is not connected")
        self._withdraw(actor, reference)
