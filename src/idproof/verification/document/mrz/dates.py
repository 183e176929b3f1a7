"""YYMMDD dates of an MRZ: validity, and the century a birth or expiry date belongs to."""

from __future__ import annotations

from datetime import date

from idproof.verification.document.mrz.layout import FILLER


def valid_yymmdd(s: str) -> bool:
    if FILLER in s:
        # Doc 9303 lets an unknown part of a birth date be fillers; the digits left must fit.
        return all(c.isdigit() or c == FILLER for c in s)
    if not s.isdigit():
        return False
    month, day = int(s[2:4]), int(s[4:6])
    if not 1 <= month <= 12 or day < 1:
        return False
    # Any year: 2000 is a leap year so 29 February stays possible until the century is known.
    return _safe_date(2000 + int(s[:2]) if s[:2] != "00" else 2000, month, day) is not None


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def birth_date_from_yymmdd(s: str, today: date) -> date | None:
    """A birth date is in the past: the latest century that does not put it after `today`."""
    if not s.isdigit():
        return None
    yy, month, day = int(s[:2]), int(s[2:4]), int(s[4:6])
    century = today.year // 100 * 100
    for year in (century + yy, century - 100 + yy, century - 200 + yy):
        if year > today.year:
            continue
        d = _safe_date(year, month, day)
        if d is not None and d <= today:
            return d
    return None


def expiry_date_from_yymmdd(s: str, today: date, window_years: int = 20) -> date | None:
    """An expiry date lies at most `window_years` ahead of `today`; anything beyond that
    belongs to the previous century (a document that expired long ago)."""
    if not s.isdigit():
        return None
    yy, month, day = int(s[:2]), int(s[2:4]), int(s[4:6])
    century = today.year // 100 * 100
    latest = today.year + window_years
    year = max(y for y in (century - 100 + yy, century + yy, century + 100 + yy) if y <= latest)
    return _safe_date(year, month, day)


