"""Check-digit-guided repair of OCR readings: a candidate is accepted only when it is unique."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from idproof.verification.document.mrz.layout import FILLER, MRZ_ALPHABET, Kind, Span, check_digit
from idproof.verification.document.mrz.result import Repair

# -- OCR confusions ---------------------------------------------------------------------------

# Letters an OCR engine reads where OCR-B prints a digit, and back. Used only to propose
# candidates: a candidate is accepted when the check digits confirm it.
LETTER_TO_DIGIT: Final[dict[str, str]] = {
    "O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "J": "1", "Z": "2",
    "A": "4", "S": "5", "G": "6", "T": "7", "B": "8",
}
DIGIT_TO_LETTER: Final[dict[str, str]] = {
    "0": "O", "1": "I", "2": "Z", "4": "A", "5": "S", "6": "G", "7": "T", "8": "B",
}
ALNUM_ALTERNATIVES: Final[dict[str, tuple[str, ...]]] = {}
for _letter, _digit in LETTER_TO_DIGIT.items():
    ALNUM_ALTERNATIVES.setdefault(_letter, ())
    ALNUM_ALTERNATIVES[_letter] += (_digit,)
    ALNUM_ALTERNATIVES.setdefault(_digit, ())
    ALNUM_ALTERNATIVES[_digit] += (_letter,)
# What each character is commonly misread as (and from), both ways.
OCR_CONFUSIONS: Final[dict[str, tuple[str, ...]]] = ALNUM_ALTERNATIVES




@dataclass(slots=True)
class Resolved:
    value: str
    ok: bool
    repairs: list[Repair] = field(default_factory=list)
    ambiguous: bool = False


Alternatives = Mapping[tuple[int, int], str]


def position_options(ch: str, kind: Kind, extra: str = "",
                      confusions: Mapping[str, tuple[str, ...]] | None = ALNUM_ALTERNATIVES,
                      ) -> tuple[tuple[str, ...], bool]:
    """Candidate characters for one position (the reading first, unless impossible there)
    and whether the read one is impossible there. `extra` holds what other OCR engines read
    at this position; `confusions` adds the OCR confusion partners of alphanumeric fields."""
    def fits(c: str) -> bool:
        if kind == "numeric":
            return c.isdigit() or c == FILLER
        if kind == "alpha":
            return c.isalpha() or c == FILLER
        return c in MRZ_ALPHABET

    others = tuple(dict.fromkeys(c for c in extra if c != ch and fits(c)))
    if fits(ch):
        alts = confusions.get(ch, ()) if kind == "alnum" and confusions else ()
        return (ch, *dict.fromkeys(a for a in (*others, *alts) if a != ch)), False
    table = LETTER_TO_DIGIT if kind == "numeric" else DIGIT_TO_LETTER if kind == "alpha" else {}
    mapped = table.get(ch)
    if mapped is not None:
        return (mapped, *(o for o in others if o != mapped)), True
    return others, True


def resolve_checked(
    name: str,
    spans: Sequence[tuple[Span, Kind]],
    check: Span,
    lines: Sequence[str],
    *,
    repair: bool,
    max_repairs: int,
    validator: Callable[[str], bool] | None = None,
    filler_check_ok: bool = False,
    alternatives: Alternatives | None = None,
    confusions: Mapping[str, tuple[str, ...]] | None = ALNUM_ALTERNATIVES,
    exhaustive: bool = False,
) -> Resolved:
    """Pick the value of a check-digit protected field.

    The reading as is wins when it passes. Otherwise a repair is accepted only if it is the one
    candidate passing the check digit among those with the fewest optional substitutions; two or
    more passing candidates mean the field is ambiguous and it fails: we never pick one.
    `exhaustive`: every candidate counts, not only the fewest-substitution ones, for when the
    alternatives are as likely as the reading (two engines, or a glyph too close to call).
    """
    positions: list[tuple[int, int, str, tuple[str, ...], bool]] = []
    for span, kind in [*spans, (check, "numeric")]:
        for col in range(span.start, span.end):
            ch = lines[span.line][col]
            extra = alternatives.get((span.line, col), "") if alternatives else ""
            opts, forced = position_options(ch, kind, extra, confusions)
            if not repair:
                opts, forced = ((ch,) if ch in MRZ_ALPHABET else ()), False
            if not opts:
                return Resolved(value="", ok=False)
            positions.append((span.line, col, ch, opts, forced))

    def passes(chars: Sequence[str]) -> bool:
        data, digit = "".join(chars[:-1]), chars[-1]
        if validator is not None and not validator(data):
            return False
        if digit == FILLER:
            # "<" stands for the check digit of an all-filler optional field only.
            return filler_check_ok and set(data) <= {FILLER}
        return check_digit(data) == digit or (
            filler_check_ok and digit == "0" and set(data) <= {FILLER})

    base = [opts[0] for (_l, _c, _ch, opts, _f) in positions]
    options = [p[3] for p in positions]
    found = _candidates(base, options, passes, max_repairs if repair else 0, exhaustive)
    if len(found) != 1:
        return Resolved(value="".join(base[:-1]), ok=False, ambiguous=len(found) > 1)
    chosen = found[0]
    repairs = [
        Repair(name, line, col, ch, chosen[i], True)
        for i, (line, col, ch, _o, _f) in enumerate(positions) if chosen[i] != ch
    ]
    return Resolved(value="".join(chosen[:-1]), ok=True, repairs=repairs)


def resolve_unchecked(name: str, span: Span, kind: Kind, lines: Sequence[str],
                       *, repair: bool) -> Resolved:
    """Fields no check digit covers: only impossible characters are mapped, and flagged."""
    out: list[str] = []
    repairs: list[Repair] = []
    ok = True
    for col in range(span.start, span.end):
        ch = lines[span.line][col]
        opts, forced = position_options(ch, kind)
        if not repair and forced:
            opts = ()
        if not opts:
            ok = False
            out.append(ch)
            continue
        out.append(opts[0])
        if forced:
            repairs.append(Repair(name, span.line, col, ch, opts[0], False))
    return Resolved("".join(out), ok, repairs)




def _candidates(base: Sequence[str], options: Sequence[tuple[str, ...]],
                passes: Callable[[Sequence[str]], bool], max_subs: int,
                exhaustive: bool) -> list[list[str]]:
    """Every passing candidate with the fewest substitutions (or with any number up to
    `max_subs` when `exhaustive`); the reading itself is the zero-substitution candidate."""
    optional_slots = [i for i, opts in enumerate(options) if len(opts) > 1]
    found_all: list[list[str]] = []
    for n_subs in range(0, max_subs + 1):
        found: list[list[str]] = []
        for slots in itertools.combinations(optional_slots, n_subs):
            for alts in itertools.product(*(options[i][1:] for i in slots)):
                cand = list(base)
                for i, a in zip(slots, alts, strict=True):
                    cand[i] = a
                if passes(cand):
                    found.append(cand)
        found_all += found
        if found and not exhaustive:
            return found
    return found_all if exhaustive else []
