"""ICAO Doc 9303 machine-readable zones: parse TD1/TD2/TD3/MRV-A/MRV-B with check-digit-guided
OCR repair, and build valid MRZs (for the synthetic document generator and tests)."""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Final, Literal

from idproof.verification.document.countries import is_known_code

FILLER: Final = "<"
MRZ_ALPHABET: Final = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<")

ReasonCode = Literal["document_unreadable", "mrz_checksum_failed"]
DOCUMENT_UNREADABLE: Final[ReasonCode] = "document_unreadable"
MRZ_CHECKSUM_FAILED: Final[ReasonCode] = "mrz_checksum_failed"


class MrzFormat(StrEnum):
    TD1 = "TD1"  # ID cards: 3 lines of 30
    TD2 = "TD2"  # older ID cards: 2 lines of 36
    TD3 = "TD3"  # passports: 2 lines of 44
    MRV_A = "MRV-A"  # full-page visas: 2 lines of 44
    MRV_B = "MRV-B"  # smaller visas: 2 lines of 36


LINE_SHAPES: Final[dict[MrzFormat, tuple[int, int]]] = {
    MrzFormat.TD1: (3, 30),
    MrzFormat.TD2: (2, 36),
    MrzFormat.TD3: (2, 44),
    MrzFormat.MRV_A: (2, 44),
    MrzFormat.MRV_B: (2, 36),
}


class MrzError(Exception):
    """An MRZ that cannot be used; `reason` is a stable code safe for API clients and logs."""

    def __init__(self, reason: ReasonCode, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: ReasonCode = reason
        # The detail names fields and positions, never their content: it may end up in logs.
        self.detail = detail


# -- check digits -----------------------------------------------------------------------------

_WEIGHTS: Final = (7, 3, 1)


def char_value(ch: str) -> int:
    """The Doc 9303 part 3 value of one MRZ character (digits as is, A=10 … Z=35, '<'=0)."""
    if "0" <= ch <= "9":
        return ord(ch) - 48
    if "A" <= ch <= "Z":
        return ord(ch) - 55
    if ch == FILLER:
        return 0
    raise ValueError(f"not an MRZ character: {ch!r}")


def check_digit(data: str) -> str:
    """The check digit over `data` (weights 7, 3, 1 repeating, modulo 10)."""
    return str(sum(char_value(c) * _WEIGHTS[i % 3] for i, c in enumerate(data)) % 10)


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
_ALNUM_ALTERNATIVES: Final[dict[str, tuple[str, ...]]] = {}
for _letter, _digit in LETTER_TO_DIGIT.items():
    _ALNUM_ALTERNATIVES.setdefault(_letter, ())
    _ALNUM_ALTERNATIVES[_letter] += (_digit,)
    _ALNUM_ALTERNATIVES.setdefault(_digit, ())
    _ALNUM_ALTERNATIVES[_digit] += (_letter,)
# What each character is commonly misread as (and from), both ways.
OCR_CONFUSIONS: Final[dict[str, tuple[str, ...]]] = _ALNUM_ALTERNATIVES

Kind = Literal["numeric", "alpha", "alnum"]


@dataclass(frozen=True, slots=True)
class Repair:
    """One character the parser changed: where (line, column), from what to what, and whether a
    check digit confirmed it (names and country codes are not check-digit protected)."""

    field: str
    line: int
    column: int
    read: str
    repaired: str
    confirmed: bool


# -- the result -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedMrz:
    """The fields of one MRZ, the outcome of every check, and what was repaired."""

    document_type: MrzFormat
    document_code: str  # the two-character code as printed, e.g. "P<", "ID", "V<"
    issuing_country: str
    document_number: str
    optional_data: str  # TD1 line 1 / TD2 / MRV optional data (fillers stripped)
    optional_data_2: str  # TD1 line 2 optional data
    surname: str
    given_names: str
    nationality: str
    birth_date: date | None  # None when the MRZ marks the date (or a part) as unknown
    sex: str  # "M", "F", "X" or "<" (unspecified)
    expiry_date: date | None
    personal_number: str  # TD3 personal number / optional data (fillers stripped)
    checks: dict[str, bool]  # check-digit field name -> passed, incl. "composite" if present
    composite_ok: bool | None  # None for the visa formats, which have no composite digit
    valid: bool
    problems: tuple[str, ...]  # machine-readable, content-free descriptions of what failed
    repairs: tuple[Repair, ...]
    lines: tuple[str, ...]  # the MRZ after repairs
    # Names are never covered by a check digit: a reader must confirm them another way.
    names_check_protected: bool = False
    specimen: bool = False

    @property
    def reason(self) -> ReasonCode | None:
        """The stable reason code when not valid, else None."""
        if self.valid:
            return None
        if any(p.endswith("_check_failed") for p in self.problems):
            return MRZ_CHECKSUM_FAILED
        return DOCUMENT_UNREADABLE

    @property
    def name_repaired(self) -> bool:
        return any(r.field in ("surname", "given_names", "name") for r in self.repairs)

    def raise_if_invalid(self) -> ParsedMrz:
        reason = self.reason
        if reason is not None:
            raise MrzError(reason, ", ".join(self.problems))
        return self

    def fields(self) -> dict[str, object]:
        """The identity fields only, for comparisons (benchmarks, engine agreement)."""
        return {
            "document_type": str(self.document_type),
            "document_code": self.document_code,
            "issuing_country": self.issuing_country,
            "document_number": self.document_number,
            "optional_data": self.optional_data,
            "optional_data_2": self.optional_data_2,
            "surname": self.surname,
            "given_names": self.given_names,
            "nationality": self.nationality,
            "birth_date": self.birth_date,
            "sex": self.sex,
            "expiry_date": self.expiry_date,
            "personal_number": self.personal_number,
        }


# -- layouts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Span:
    line: int
    start: int
    end: int  # exclusive

    def take(self, lines: Sequence[str]) -> str:
        return lines[self.line][self.start:self.end]


@dataclass(frozen=True, slots=True)
class _Layout:
    document_code: _Span
    issuing_country: _Span
    name: _Span
    document_number: _Span
    document_number_check: _Span
    nationality: _Span
    birth_date: _Span
    birth_date_check: _Span
    sex: _Span
    expiry_date: _Span
    expiry_date_check: _Span
    optional: _Span  # TD3: personal number
    optional_check: _Span | None  # TD3 only
    optional_2: _Span | None  # TD1 only
    composite: tuple[_Span, ...]  # spans the composite digit covers, in order
    composite_check: _Span | None


def _two_line(width: int, *, composite: bool, optional_check: bool) -> _Layout:
    # TD2, TD3, MRV-A and MRV-B share line 2 up to column 28; they differ in the tail.
    opt_end = width - (1 if composite else 0) - (1 if optional_check else 0)
    comp_check = _Span(1, width - 1, width) if composite else None
    opt_check = _Span(1, opt_end, opt_end + 1) if optional_check else None
    composite_spans = (
        (_Span(1, 0, 10), _Span(1, 13, 20), _Span(1, 21, width - 1)) if composite else ())
    return _Layout(
        document_code=_Span(0, 0, 2), issuing_country=_Span(0, 2, 5), name=_Span(0, 5, width),
        document_number=_Span(1, 0, 9), document_number_check=_Span(1, 9, 10),
        nationality=_Span(1, 10, 13), birth_date=_Span(1, 13, 19),
        birth_date_check=_Span(1, 19, 20), sex=_Span(1, 20, 21),
        expiry_date=_Span(1, 21, 27), expiry_date_check=_Span(1, 27, 28),
        optional=_Span(1, 28, opt_end), optional_check=opt_check, optional_2=None,
        composite=composite_spans, composite_check=comp_check,
    )


_LAYOUTS: Final[dict[MrzFormat, _Layout]] = {
    MrzFormat.TD1: _Layout(
        document_code=_Span(0, 0, 2), issuing_country=_Span(0, 2, 5), name=_Span(2, 0, 30),
        document_number=_Span(0, 5, 14), document_number_check=_Span(0, 14, 15),
        nationality=_Span(1, 15, 18), birth_date=_Span(1, 0, 6), birth_date_check=_Span(1, 6, 7),
        sex=_Span(1, 7, 8), expiry_date=_Span(1, 8, 14), expiry_date_check=_Span(1, 14, 15),
        optional=_Span(0, 15, 30), optional_check=None, optional_2=_Span(1, 18, 29),
        composite=(_Span(0, 5, 30), _Span(1, 0, 7), _Span(1, 8, 15), _Span(1, 18, 29)),
        composite_check=_Span(1, 29, 30),
    ),
    MrzFormat.TD2: _two_line(36, composite=True, optional_check=False),
    MrzFormat.TD3: _two_line(44, composite=True, optional_check=True),
    MrzFormat.MRV_A: _two_line(44, composite=False, optional_check=False),
    MrzFormat.MRV_B: _two_line(36, composite=False, optional_check=False),
}


def detect_format(lines: Sequence[str]) -> MrzFormat:
    """The format from the shape of the lines (and the first letter for 44/36-wide ones)."""
    shape = (len(lines), len(lines[0]) if lines else 0)
    if any(len(line) != shape[1] for line in lines):
        raise MrzError(DOCUMENT_UNREADABLE, "MRZ lines differ in length")
    first = lines[0][:1] if lines else ""
    if shape == (3, 30):
        return MrzFormat.TD1
    if shape == (2, 44):
        return MrzFormat.MRV_A if first == "V" else MrzFormat.TD3
    if shape == (2, 36):
        return MrzFormat.MRV_B if first == "V" else MrzFormat.TD2
    raise MrzError(DOCUMENT_UNREADABLE, f"no MRZ format has {shape[0]} lines of {shape[1]}")


def split_mrz_text(text: str | Sequence[str]) -> list[str]:
    """Lines of an MRZ given as one string (newline separated) or a sequence of lines."""
    raw = text.splitlines() if isinstance(text, str) else list(text)
    return [line.strip().upper().replace(" ", "") for line in raw if line.strip()]


# -- field resolution with check-digit-guided repair ------------------------------------------


@dataclass(slots=True)
class _Resolved:
    value: str
    ok: bool
    repairs: list[Repair] = field(default_factory=list)
    ambiguous: bool = False


Alternatives = Mapping[tuple[int, int], str]


def _position_options(ch: str, kind: Kind, extra: str = "",
                      confusions: Mapping[str, tuple[str, ...]] | None = _ALNUM_ALTERNATIVES,
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


def _resolve_checked(
    name: str,
    spans: Sequence[tuple[_Span, Kind]],
    check: _Span,
    lines: Sequence[str],
    *,
    repair: bool,
    max_repairs: int,
    validator: Callable[[str], bool] | None = None,
    filler_check_ok: bool = False,
    alternatives: Alternatives | None = None,
    confusions: Mapping[str, tuple[str, ...]] | None = _ALNUM_ALTERNATIVES,
    exhaustive: bool = False,
) -> _Resolved:
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
            opts, forced = _position_options(ch, kind, extra, confusions)
            if not repair:
                opts, forced = ((ch,) if ch in MRZ_ALPHABET else ()), False
            if not opts:
                return _Resolved(value="", ok=False)
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
    optional_slots = [i for i, p in enumerate(positions) if len(p[3]) > 1]
    found: list[list[str]] = []
    found_all: list[list[str]] = []
    for n_subs in range(0, (max_repairs if repair else 0) + 1):
        found = []
        for slots in itertools.combinations(optional_slots, n_subs):
            for alts in itertools.product(*(positions[i][3][1:] for i in slots)):
                cand = list(base)
                for i, a in zip(slots, alts, strict=True):
                    cand[i] = a
                if passes(cand):
                    found.append(cand)
                    found_all.append(cand)
        if found and not exhaustive:
            break
    if exhaustive:
        found = found_all
    if len(found) != 1:
        return _Resolved(value="".join(base[:-1]), ok=False, ambiguous=len(found) > 1)
    chosen = found[0]
    repairs = [
        Repair(name, line, col, ch, chosen[i], True)
        for i, (line, col, ch, _o, _f) in enumerate(positions) if chosen[i] != ch
    ]
    return _Resolved(value="".join(chosen[:-1]), ok=True, repairs=repairs)


def _resolve_unchecked(name: str, span: _Span, kind: Kind, lines: Sequence[str],
                       *, repair: bool) -> _Resolved:
    """Fields no check digit covers: only impossible characters are mapped, and flagged."""
    out: list[str] = []
    repairs: list[Repair] = []
    ok = True
    for col in range(span.start, span.end):
        ch = lines[span.line][col]
        opts, forced = _position_options(ch, kind)
        if not repair and forced:
            opts = ()
        if not opts:
            ok = False
            out.append(ch)
            continue
        out.append(opts[0])
        if forced:
            repairs.append(Repair(name, span.line, col, ch, opts[0], False))
    return _Resolved("".join(out), ok, repairs)


# -- dates ------------------------------------------------------------------------------------


def _valid_yymmdd(s: str) -> bool:
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


# -- the parser -------------------------------------------------------------------------------


def split_name_field(raw: str) -> tuple[str, str]:
    """Primary and secondary identifiers: split at the first "<<", single "<" are spaces.
    Nothing in a name field follows three fillers, so what does is OCR noise in the filler."""
    body = raw.split("<<<", 1)[0].rstrip(FILLER)
    primary, sep, secondary = body.partition("<<")
    primary = " ".join(p for p in primary.split(FILLER) if p)
    secondary = " ".join(p for p in secondary.split(FILLER) if p) if sep else ""
    return primary, secondary


class MrzParser:
    """Parses MRZ text into a `ParsedMrz`.

    `today` anchors century inference (defaults to the current date), `expiry_window_years`
    is how far ahead an expiry date may lie, `repair` enables check-digit-confirmed OCR repair
    (at most `max_repairs` optional substitutions per field), `allow_specimen` accepts the
    fictional country UTO of Doc 9303's specimens.
    """

    def __init__(self, *, today: date | None = None, expiry_window_years: int = 20,
                 repair: bool = True, max_repairs: int = 2,
                 confusion_repair: bool | Mapping[str, str] = True,
                 allow_specimen: bool = False, exhaustive: bool = False) -> None:
        self._today = today
        self._window = expiry_window_years
        self._repair = repair
        self._max_repairs = max_repairs
        # True: the whole confusion table; a mapping: only those pairs (both ways); False: none.
        self._confusions: Mapping[str, tuple[str, ...]] | None
        if confusion_repair is True:
            self._confusions = _ALNUM_ALTERNATIVES
        elif confusion_repair:
            table: dict[str, tuple[str, ...]] = {}
            for x, y in confusion_repair.items():
                table[x] = (*table.get(x, ()), y)
                table[y] = (*table.get(y, ()), x)
            self._confusions = table
        else:
            self._confusions = None
        self._allow_specimen = allow_specimen
        self._alternatives: Alternatives | None = None
        self._exhaustive = exhaustive

    def parse(self, text: str | Sequence[str],
              alternatives: Alternatives | None = None) -> ParsedMrz:
        """Parse; raises `MrzError(document_unreadable)` when the text is not an MRZ at all.
        A wrong check digit gives a result with `valid=False` (see `raise_if_invalid`).

        `alternatives` maps (line, column) to characters other OCR readings saw there; check
        digits may pick one of them instead of the character in `text`.
        """
        lines = split_mrz_text(text)
        if not lines:
            raise MrzError(DOCUMENT_UNREADABLE, "no MRZ text")
        fmt = detect_format(lines)
        self._alternatives = alternatives
        try:
            return self._parse(fmt, lines)
        finally:
            self._alternatives = None

    def _checked(self, name: str, spans: Sequence[tuple[_Span, Kind]], check: _Span,
                 lines: Sequence[str], **kw: Any) -> _Resolved:
        return _resolve_checked(name, spans, check, lines, repair=self._repair,
                                max_repairs=self._max_repairs, alternatives=self._alternatives,
                                confusions=self._confusions, exhaustive=self._exhaustive,
                                **kw)

    def _parse(self, fmt: MrzFormat, lines: list[str]) -> ParsedMrz:
        today = self._today or date.today()
        lay = _LAYOUTS[fmt]
        problems: list[str] = []
        repairs: list[Repair] = []
        checks: dict[str, bool] = {}
        fixed = [list(line) for line in lines]

        def apply(res: _Resolved) -> None:
            repairs.extend(res.repairs)
            for r in res.repairs:
                fixed[r.line][r.column] = r.repaired

        code = _resolve_unchecked("document_code", lay.document_code, "alpha", lines,
                                  repair=self._repair)
        apply(code)
        code_ok = code.ok and code.value[0] != FILLER and self._code_fits(fmt, code.value)
        if not code_ok:
            problems.append("document_code_invalid")

        issuer = _resolve_unchecked("issuing_country", lay.issuing_country, "alpha", lines,
                                    repair=self._repair)
        apply(issuer)
        nationality = _resolve_unchecked("nationality", lay.nationality, "alpha", lines,
                                         repair=self._repair)
        apply(nationality)
        name = _resolve_unchecked("name", lay.name, "alpha", lines, repair=self._repair)
        apply(name)
        if not name.ok:
            problems.append("name_invalid")
        for label, res in (("issuing_country", issuer), ("nationality", nationality)):
            value = res.value.rstrip(FILLER)
            if not res.ok or not is_known_code(value, allow_specimen=self._allow_specimen):
                problems.append(f"{label}_unknown")
        sex = lines[lay.sex.line][lay.sex.start]
        if sex not in "MFX<":
            problems.append("sex_invalid")

        # Document number, including the long-number overflow of TD1/TD2 (Doc 9303 part 5,
        # 4.2.4): "<" in the check position, the rest and its check digit in optional data.
        number_value, optional_tail_start = self._document_number(
            fmt, lay, lines, fixed, checks, problems, repairs)

        birth = self._checked("birth_date", [(lay.birth_date, "numeric")],
                              lay.birth_date_check, lines, validator=_valid_yymmdd)
        apply(birth)
        checks["birth_date"] = birth.ok
        expiry = self._checked("expiry_date", [(lay.expiry_date, "numeric")],
                               lay.expiry_date_check, lines,
                               validator=lambda s: s.isdigit() and _valid_yymmdd(s))
        apply(expiry)
        checks["expiry_date"] = expiry.ok

        if lay.optional_check is not None:
            personal = self._checked("personal_number", [(lay.optional, "alnum")],
                                     lay.optional_check, lines, filler_check_ok=True)
            apply(personal)
            checks["personal_number"] = personal.ok

        composite_ok: bool | None = None
        if lay.composite_check is not None:
            composite_ok = self._composite(lay, fixed, repairs, optional_tail_start)
            checks["composite"] = composite_ok

        for name_, ok in checks.items():
            if not ok:
                problems.append(f"{name_}_check_failed")

        out_lines = ["".join(chars) for chars in fixed]
        surname, given = split_name_field(lay.name.take(out_lines))
        birth_date = (birth_date_from_yymmdd(lay.birth_date.take(out_lines), today)
                      if checks["birth_date"] else None)
        expiry_date = (expiry_date_from_yymmdd(lay.expiry_date.take(out_lines), today,
                                               self._window)
                       if checks["expiry_date"] else None)
        if checks["birth_date"] and birth_date is None and FILLER not in lay.birth_date.take(
                out_lines):
            problems.append("birth_date_in_future")
        if checks["expiry_date"] and expiry_date is None:
            problems.append("expiry_date_invalid")
        optional_raw = lay.optional.take(out_lines)
        optional_2 = lay.optional_2.take(out_lines).strip(FILLER) if lay.optional_2 else ""
        if optional_tail_start:
            optional_raw = optional_raw[optional_tail_start:]
        personal_number = ""
        optional_data = optional_raw.strip(FILLER)
        if fmt is MrzFormat.TD3:
            personal_number, optional_data = optional_data, ""
        issuing = issuer.value.rstrip(FILLER)
        return ParsedMrz(
            document_type=fmt,
            document_code=code.value,
            issuing_country=issuing,
            document_number=number_value,
            optional_data=optional_data,
            optional_data_2=optional_2,
            surname=surname,
            given_names=given,
            nationality=nationality.value.rstrip(FILLER),
            birth_date=birth_date,
            sex=lay.sex.take(out_lines),
            expiry_date=expiry_date,
            personal_number=personal_number,
            checks=checks,
            composite_ok=composite_ok,
            valid=not problems,
            problems=tuple(problems),
            repairs=tuple(repairs),
            lines=tuple(out_lines),
            specimen=issuing == "UTO",
        )

    @staticmethod
    def _code_fits(fmt: MrzFormat, code: str) -> bool:
        first = code[0]
        if fmt is MrzFormat.TD3:
            return first == "P"
        if fmt in (MrzFormat.MRV_A, MrzFormat.MRV_B):
            return first == "V"
        # TD1/TD2: A, C or I by Doc 9303; a "P" or "V" here is a misread format.
        return first not in "PV"

    def _document_number(self, fmt: MrzFormat, lay: _Layout, lines: list[str],
                         fixed: list[list[str]], checks: dict[str, bool], problems: list[str],
                         repairs: list[Repair]) -> tuple[str, int]:
        number_check = lay.document_number_check.take(lines)
        long_number = fmt in (MrzFormat.TD1, MrzFormat.TD2) and number_check == FILLER
        if long_number:
            opt = lay.optional.take(lines)
            tail_len = opt.find(FILLER)
            if tail_len < 2:  # at least one more character and a check digit
                checks["document_number"] = False
                return lay.document_number.take(lines).rstrip(FILLER), 0
            tail = _Span(lay.optional.line, lay.optional.start, lay.optional.start + tail_len - 1)
            check = _Span(tail.line, tail.end, tail.end + 1)
            res = self._checked("document_number",
                                [(lay.document_number, "alnum"), (tail, "alnum")], check, lines)
            # The "<" of the check position is part of the structure, keep it.
            consumed = tail_len + 1
        else:
            res = self._checked("document_number", [(lay.document_number, "alnum")],
                                lay.document_number_check, lines)
            consumed = 0
        repairs.extend(res.repairs)
        for r in res.repairs:
            fixed[r.line][r.column] = r.repaired
        # Fillers only pad a document number at its end; one inside is a lost character.
        ok = res.ok and FILLER not in res.value.rstrip(FILLER)
        checks["document_number"] = ok
        if res.ok and not ok:
            problems.append("document_number_malformed")
        return res.value.replace(FILLER, "") if long_number else res.value.rstrip(FILLER), consumed

    def _composite(self, lay: _Layout, fixed: list[list[str]], repairs: list[Repair],
                   tail_start: int) -> bool:
        """The composite digit; fields only it covers (TD1/TD2 optional data) may be repaired
        here, with the same rule: a unique confirmed candidate or nothing."""
        assert lay.composite_check is not None
        covered = {(r.line, r.column) for r in repairs}
        snapshot = ["".join(chars) for chars in fixed]
        # Positions already settled by their own check digit are frozen: only the optional
        # data, which no other digit protects, may change to satisfy the composite.
        protected = self._protected_positions(lay, tail_start)
        positions = [(s.line, c) for s in lay.composite for c in range(s.start, s.end)]
        data = "".join(snapshot[li][c] for li, c in positions)
        digit_raw = lay.composite_check.take(snapshot)
        digit = LETTER_TO_DIGIT.get(digit_raw, digit_raw) if self._repair else digit_raw
        if not digit.isdigit():
            return False
        if digit != digit_raw:
            repairs.append(Repair("composite", lay.composite_check.line,
                                  lay.composite_check.start, digit_raw, digit, True))
            fixed[lay.composite_check.line][lay.composite_check.start] = digit
        as_read = all(ch in MRZ_ALPHABET for ch in data) and check_digit(data) == digit
        if as_read and not self._exhaustive:
            return True
        if not self._repair:
            return as_read
        free = [i for i, (li, c) in enumerate(positions)
                if (li, c) not in protected and (li, c) not in covered]
        options: dict[int, tuple[str, ...]] = {}
        for i in free:
            li, c = positions[i]
            extra = self._alternatives.get((li, c), "") if self._alternatives else ""
            opts, _forced = _position_options(snapshot[li][c], "alnum", extra, self._confusions)
            if len(opts) > 1:
                options[i] = opts[1:]
        # Same rule as a field's own check digit: the fewest substitutions first, or every
        # combination when exhaustive; exactly one passing candidate or nothing.
        found: list[list[tuple[int, str]]] = []
        for n_subs in range(1, self._max_repairs + 1):
            for slots in itertools.combinations(sorted(options), n_subs):
                for alts in itertools.product(*(options[i] for i in slots)):
                    cand = list(data)
                    for i, alt in zip(slots, alts, strict=True):
                        cand[i] = alt
                    if check_digit("".join(cand)) == digit:
                        found.append(list(zip(slots, alts, strict=True)))
            if found and not self._exhaustive:
                break
        if as_read:
            # Exhaustive: the reading stands only if no alternative passes as well.
            return not found
        if len(found) != 1:
            return False
        for i, alt in found[0]:
            li, c = positions[i]
            repairs.append(Repair("optional_data", li, c, snapshot[li][c], alt, True))
            fixed[li][c] = alt
        return True

    @staticmethod
    def _protected_positions(lay: _Layout, tail_start: int) -> set[tuple[int, int]]:
        spans = [lay.document_number, lay.document_number_check, lay.birth_date,
                 lay.birth_date_check, lay.expiry_date, lay.expiry_date_check]
        if lay.optional_check is not None:
            spans += [lay.optional, lay.optional_check]
        out = {(s.line, c) for s in spans for c in range(s.start, s.end)}
        if tail_start:
            out |= {(lay.optional.line, lay.optional.start + c) for c in range(tail_start)}
        return out


def parse_mrz(text: str | Sequence[str], *, today: date | None = None,
              allow_specimen: bool = False, repair: bool = True) -> ParsedMrz:
    """Parse one MRZ with the default rules (see `MrzParser`)."""
    return MrzParser(today=today, allow_specimen=allow_specimen, repair=repair).parse(text)


# -- building MRZs ----------------------------------------------------------------------------


def mrz_transliterate(text: str) -> str:
    """Latin text to MRZ characters: accents dropped, spaces/hyphens/apostrophes per Doc 9303
    part 3 (spaces and hyphens become fillers, apostrophes vanish)."""
    specials = {"Ä": "AE", "Ö": "OE", "Ü": "UE", "ß": "SS", "Æ": "AE", "Ø": "OE", "Å": "AA",
                "Þ": "TH", "Ĳ": "IJ", "Œ": "OE"}
    out: list[str] = []
    for ch in text.upper():
        if ch in specials:
            out.append(specials[ch])
            continue
        base = unicodedata.normalize("NFKD", ch)[0]
        if "A" <= base <= "Z":
            out.append(base)
        elif ch in " -,":
            out.append(FILLER)
        # apostrophes and any other punctuation are omitted
    return "".join(out)


def encode_name(surname: str, given_names: str, width: int) -> str:
    """The name field: primary identifier, "<<", secondary identifiers, filler to `width`.
    Too long names are truncated at the end (Doc 9303 allows more elaborate truncation)."""
    primary = mrz_transliterate(surname).strip(FILLER)
    secondary = mrz_transliterate(given_names).strip(FILLER)
    body = primary + ("<<" + secondary if secondary else "")
    return body[:width].ljust(width, FILLER)


def _pad(value: str, width: int) -> str:
    value = value.upper().replace(" ", FILLER)
    if len(value) > width:
        raise ValueError(f"{width}-character field got {len(value)} characters")
    return value.ljust(width, FILLER)


def build_mrz(fmt: MrzFormat, *, document_code: str, issuing_country: str,
              document_number: str, surname: str, given_names: str, nationality: str,
              birth_date: date | str, sex: str, expiry_date: date | str,
              optional_data: str = "", optional_data_2: str = "",
              personal_number: str = "") -> tuple[str, ...]:
    """A valid MRZ (lines) for the given fields. Dates may be `date`s or YYMMDD strings (the
    latter allows "<<" for unknown parts). Long TD1/TD2 document numbers overflow into the
    optional data per Doc 9303."""
    lay = _LAYOUTS[fmt]
    n_lines, width = LINE_SHAPES[fmt]
    rows = [[FILLER] * width for _ in range(n_lines)]

    def put(span: _Span, value: str) -> None:
        value = _pad(value, span.end - span.start)
        rows[span.line][span.start:span.end] = list(value)

    def yymmdd(d: date | str) -> str:
        return d if isinstance(d, str) else d.strftime("%y%m%d")

    put(lay.document_code, document_code)
    put(lay.issuing_country, issuing_country)
    put(lay.name, encode_name(surname, given_names, lay.name.end - lay.name.start))
    put(lay.nationality, nationality)
    put(lay.birth_date, yymmdd(birth_date))
    put(lay.birth_date_check, check_digit(yymmdd(birth_date)))
    put(lay.sex, sex)
    put(lay.expiry_date, yymmdd(expiry_date))
    put(lay.expiry_date_check, check_digit(yymmdd(expiry_date)))

    opt_width = lay.optional.end - lay.optional.start
    number = document_number.upper()
    if len(number) > 9:
        if fmt not in (MrzFormat.TD1, MrzFormat.TD2):
            raise ValueError("document numbers over 9 characters need TD1 or TD2")
        put(lay.document_number, number[:9])
        put(lay.document_number_check, FILLER)
        overflow = number[9:] + check_digit(number) + FILLER
        if len(overflow) + len(optional_data) > opt_width:
            raise ValueError("document number and optional data do not fit")
        put(lay.optional, overflow + optional_data)
    else:
        put(lay.document_number, number)
        put(lay.document_number_check, check_digit(_pad(number, 9)))
        put(lay.optional, personal_number if fmt is MrzFormat.TD3 else optional_data)
    if lay.optional_check is not None:
        data = _pad(personal_number, opt_width)
        # An all-filler personal number takes "<" as its check digit (Doc 9303 part 4).
        put(lay.optional_check, FILLER if set(data) == {FILLER} else check_digit(data))
    if lay.optional_2 is not None:
        put(lay.optional_2, optional_data_2)
    if lay.composite_check is not None:
        lines = ["".join(r) for r in rows]
        put(lay.composite_check, check_digit("".join(s.take(lines) for s in lay.composite)))
    return tuple("".join(r) for r in rows)


def field_kinds(fmt: MrzFormat) -> dict[tuple[int, int], Kind]:
    """(line, column) -> "numeric" / "alpha" / "alnum" for every position of the format, so
    that a reader knows where an "O" can only be a zero, and where it could be either."""
    lay = _LAYOUTS[fmt]
    n_lines, width = LINE_SHAPES[fmt]
    kinds: dict[tuple[int, int], Kind] = {(li, c): "alpha" for li in range(n_lines)
                                          for c in range(width)}
    numeric = [lay.birth_date, lay.birth_date_check, lay.expiry_date, lay.expiry_date_check]
    if lay.optional_check is not None:
        numeric.append(lay.optional_check)
    if lay.composite_check is not None:
        numeric.append(lay.composite_check)
    alnum = [lay.document_number, lay.document_number_check, lay.optional]
    if lay.optional_2 is not None:
        alnum.append(lay.optional_2)
    for spans, kind in ((alnum, "alnum"), (numeric, "numeric")):
        for sp in spans:
            for c in range(sp.start, sp.end):
                kinds[(sp.line, c)] = kind  # type: ignore[assignment]
    return kinds


def protected_positions(fmt: MrzFormat, lines: Sequence[str]) -> list[tuple[int, int]]:
    """(line, column) of every character covered by a check digit, the digits included, so
    that tests can target exactly what check digits protect."""
    lay = _LAYOUTS[fmt]
    spans: list[_Span] = [lay.document_number, lay.document_number_check, lay.birth_date,
                          lay.birth_date_check, lay.expiry_date, lay.expiry_date_check]
    if lay.optional_check is not None:
        spans += [lay.optional, lay.optional_check]
    if lay.composite_check is not None:
        spans += [*lay.composite, lay.composite_check]
    out: set[tuple[int, int]] = {(s.line, c) for s in spans for c in range(s.start, s.end)}
    return sorted(out)

