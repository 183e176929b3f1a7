"""Pure rules of the vault: token and kind formats, and what a stated purpose must look like."""

from __future__ import annotations

import re
import unicodedata

from idproof.core.ids import new_id

KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
# tok_<kind>_<24 base36>: the random part carries ~124 bits and says nothing about the value.
TOKEN_RE = re.compile(r"tok_[a-z][a-z0-9_]{0,31}_[0-9a-z]{24}")
TOKEN_PATTERN = TOKEN_RE.pattern
MAX_PURPOSE = 200


class PurposeError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_kind(kind: str) -> str:
    if not isinstance(kind, str) or not KIND_RE.fullmatch(kind):
        raise ValueError("kind must be 1-32 characters of [a-z0-9_], starting with a letter")
    return kind


def new_token(kind: str) -> str:
    """A fresh random token for `kind` (never derived from the value)."""
    return new_id(f"tok_{check_kind(kind)}")


def clean_purpose(purpose: str) -> str:
    """The purpose trimmed; refused when empty, too long or holding control characters."""
    text = purpose.strip()
    if not text:
        raise PurposeError("purpose_required", "state why the value is needed (purpose)")
    if len(text) > MAX_PURPOSE:
        raise PurposeError("invalid_purpose", f"the purpose is longer than {MAX_PURPOSE} "
                                              "characters")
    if any(unicodedata.category(ch)[0] == "C" for ch in text):
        raise PurposeError("invalid_purpose", "the purpose holds control characters")
    return text
