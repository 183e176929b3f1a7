"""What a feature holding a person's data offers the privacy operations: read it, erase it.

The privacy package (export, erasure, retention, consent withdrawal) works through this
protocol, whatever feature keeps the data; `verification.subject_data` implements it for
sessions and their documents.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class DataSubject(Protocol):
    def read_fields(self, actor: Any, session_id: str, purpose: str) -> dict[str, Any]:
        """The personal data read from the session's document, audited with `purpose`."""
        ...

    def erase(self, actor: Any, session_id: str,
              check: Callable[[Any, Any], bool] | None = None) -> bool:
        """Delete the session and its data and shred the person's key; with `check`, only
        if it still holds under the row lock. Whether it was erased."""
        ...
