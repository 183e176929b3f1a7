"""Why a zone was refused: decline (`mrz_checksum_failed`) or retry (`document_unreadable`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Final

from idproof.verification.document.mrz import (
    DOCUMENT_UNREADABLE,
    FILLER,
    MRZ_ALPHABET,
    MRZ_CHECKSUM_FAILED,
    Kind,
    MrzError,
    MrzFormat,
    MrzParser,
    ReasonCode,
    detect_format,
    field_kinds,
    protected_positions,
)
from idproof.verification.document.mrz_text import align

# -- why a zone was refused -------------------------------------------------------------------

# A refusal either declines the document (`mrz_checksum_failed`, final) or asks for another
# photo (`document_unreadable`, retried while attempts remain). A check digit that fails
# because the reader misread a character says nothing about the document, so the decline is
# kept for the one case where the failure cannot be the reader's: independent engines read
# the very same zone, character for character, with nothing corrected to get there, and its
# check digits still fail.

# Parses the agreed zone exactly as read: no repair, no candidates, no forced mapping. Only
# its check results are used, so its idea of today (for dates' centuries) does not matter.
_AS_READ = MrzParser(repair=False, allow_specimen=True)


def agreed_zone(readings: Mapping[str, Sequence[str]]
                ) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The zone text that at least two engines read identically (every line, as read) and
    the names of those engines; None when no two engines agree, or when two groups of
    engines each agree on a different text (the engines disagree)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for name, lines in readings.items():
        key = tuple(lines)
        if any(key):  # an engine that read nothing agrees with nobody
            groups.setdefault(key, []).append(name)
    agreed = [(text, tuple(names)) for text, names in groups.items() if len(names) >= 2]
    return agreed[0] if len(agreed) == 1 else None


# The one numeric position Doc 9303 lets hold a filler that the reader accepts: TD3's
# personal-number check digit, when there is no personal number.
_FILLER_DIGITS: Final[dict[MrzFormat, frozenset[tuple[int, int]]]] = {
    MrzFormat.TD3: frozenset({(1, 42)}),
}


def _fits(ch: str, kind: Kind, filler_ok: bool = False) -> bool:
    """Whether `ch` can stand at a position of this kind. A letter in a date or a digit in a
    name is a misread by definition, however many engines made it; so is a "<" in a date or
    a check digit: OCR turns a faint "0" into one (an unknown birth date, which Doc 9303
    allows, is refused by the reader all the same)."""
    if ch not in MRZ_ALPHABET:
        return False
    if kind == "numeric":
        return ch.isdigit() or (filler_ok and ch == FILLER)
    if kind == "alpha":
        return ch.isalpha() or ch == FILLER
    return True


def refusal_reason(readings: Mapping[str, Sequence[str]], *, valid_readings: int = 0,
                   doubts: Collection[tuple[int, int]] = ()) -> ReasonCode:
    """The reason for refusing a zone: `mrz_checksum_failed` (a decline) or
    `document_unreadable` (a retry).

    `readings`: each engine's own text of the zone's lines, most trusted engine first, as
    read (engines that abstained may be left out); `valid_readings`: how many different valid
    MRZs the reader found (any means the check digits can pass, so the refusal is about the
    reader's doubts: ambiguity, no second engine, an unknown birth date); `doubts`: (line,
    column) positions where the reader itself held another candidate for the agreed
    character (an O/0 its shape vote could not settle).

    `mrz_checksum_failed` only when all of these hold, else `document_unreadable`:
    - nothing valid was found;
    - at least two engines read the identical zone, of an MRZ's exact shape (no line
      stretched or squeezed to fit), and no other pair of engines agreed on another text;
    - every character fits its field (no letter-to-digit mapping needed);
    - no other engine that read the zone saw a different character at a check-digit
      protected position, and the reader had no doubt of its own there (a correction was
      possible, whether or not it passed);
    - parsed exactly as read, a check digit fails (a filler inside the document number is a
      lost character, not a check digit failure).
    """
    if valid_readings:
        return DOCUMENT_UNREADABLE
    found = agreed_zone(readings)
    if found is None:
        return DOCUMENT_UNREADABLE
    zone, agreeing = found
    try:
        fmt = detect_format(zone)
    except MrzError:
        return DOCUMENT_UNREADABLE
    kinds = field_kinds(fmt)
    filler_digits = _FILLER_DIGITS.get(fmt, frozenset())
    if not all(_fits(ch, kinds[(li, col)], (li, col) in filler_digits)
               for li, line in enumerate(zone) for col, ch in enumerate(line)):
        return DOCUMENT_UNREADABLE
    protected = protected_positions(fmt, zone)
    if set(protected) & set(doubts):
        return DOCUMENT_UNREADABLE
    if _dissent_at(protected, zone, agreeing, readings):
        return DOCUMENT_UNREADABLE
    try:
        parsed = _AS_READ.parse(zone)
    except MrzError:
        return DOCUMENT_UNREADABLE
    if FILLER in parsed.document_number:
        # Fillers only pad a document number at its end: one inside is a lost character.
        return DOCUMENT_UNREADABLE
    failing = [name for name, ok in parsed.checks.items() if not ok]
    return MRZ_CHECKSUM_FAILED if failing else DOCUMENT_UNREADABLE


def _dissent_at(protected: Sequence[tuple[int, int]], zone: Sequence[str],
                agreeing: Sequence[str], readings: Mapping[str, Sequence[str]]) -> bool:
    """Whether an engine outside the agreeing ones saw another character at a check-digit
    protected position of the agreed zone."""
    trust = {name: i for i, name in enumerate(readings)}
    most_trusted = min(trust[n] for n in agreeing)
    for name, lines in readings.items():
        if name in agreeing or not any(lines):
            continue
        aligned = [align(zone[li], lines[li]) if li < len(lines) else {}
                   for li in range(len(zone))]
        for li, col in protected:
            if li >= len(lines):
                continue
            # What the engine saw there: aligned (a lost or gained character elsewhere
            # shifts the rest) and, for a line of the same length, column for column too;
            # either differing is dissent (erring towards a retry, never a decline).
            seen = {aligned[li].get(col)}
            if len(lines[li]) == len(zone[li]):
                seen.add(lines[li][col])
            seen -= {None, zone[li][col]}
            if not seen:
                continue
            if zone[li][col] == FILLER and trust[name] > most_trusted:
                # As in the fusion: a less trusted engine's "character" where the agreeing
                # engines read a filler is Tesseract drawing "<" as K, S or E.
                continue
            return True
    return False
