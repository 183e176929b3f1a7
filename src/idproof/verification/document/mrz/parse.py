"""Parse MRZ text into a `ParsedMrz` with check-digit-guided OCR repair."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from idproof.verification.document.countries import is_known_code
from idproof.verification.document.mrz.dates import (
    birth_date_from_yymmdd,
    expiry_date_from_yymmdd,
    valid_yymmdd,
)
from idproof.verification.document.mrz.layout import (
    DOCUMENT_UNREADABLE,
    FILLER,
    LAYOUTS,
    MRZ_ALPHABET,
    Kind,
    Layout,
    MrzError,
    MrzFormat,
    Span,
    check_digit,
    detect_format,
    split_mrz_text,
)
from idproof.verification.document.mrz.repair import (
    ALNUM_ALTERNATIVES,
    LETTER_TO_DIGIT,
    Alternatives,
    Resolved,
    position_options,
    resolve_checked,
    resolve_unchecked,
)
from idproof.verification.document.mrz.result import ParsedMrz, Repair


@dataclass(slots=True)
class _Work:
    """What one parse accumulates: the lines as read, the lines as repaired, and the findings."""

    lines: list[str]
    fixed: list[list[str]] = field(init=False)
    problems: list[str] = field(default_factory=list)
    repairs: list[Repair] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fixed = [list(line) for line in self.lines]

    def apply(self, res: Resolved) -> Resolved:
        self.repairs.extend(res.repairs)
        for r in res.repairs:
            self.fixed[r.line][r.column] = r.repaired
        return res


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
            self._confusions = ALNUM_ALTERNATIVES
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

    def _checked(self, name: str, spans: Sequence[tuple[Span, Kind]], check: Span,
                 lines: Sequence[str], **kw: Any) -> Resolved:
        return resolve_checked(name, spans, check, lines, repair=self._repair,
                                max_repairs=self._max_repairs, alternatives=self._alternatives,
                                confusions=self._confusions, exhaustive=self._exhaustive,
                                **kw)

    def _parse(self, fmt: MrzFormat, lines: list[str]) -> ParsedMrz:
        lay = LAYOUTS[fmt]
        work = _Work(lines)
        code, issuer, nationality = self._header(fmt, lay, work)
        # Document number, including the long-number overflow of TD1/TD2 (Doc 9303 part 5,
        # 4.2.4): "<" in the check position, the rest and its check digit in optional data.
        number_value, optional_tail_start = self._document_number(
            fmt, lay, lines, work.fixed, work.checks, work.problems, work.repairs)
        self._dates_and_personal_number(lay, work)
        composite_ok: bool | None = None
        if lay.composite_check is not None:
            composite_ok = self._composite(lay, work.fixed, work.repairs, optional_tail_start)
            work.checks["composite"] = composite_ok
        for name_, ok in work.checks.items():
            if not ok:
                work.problems.append(f"{name_}_check_failed")
        return self._assemble(fmt, lay, work, code=code.value, issuer=issuer.value,
                              nationality=nationality.value, number=number_value,
                              optional_tail_start=optional_tail_start, composite_ok=composite_ok)

    def _header(self, fmt: MrzFormat, lay: Layout,
                work: _Work) -> tuple[Resolved, Resolved, Resolved]:
        """The fields no check digit covers: document code, countries, name and sex."""
        lines = work.lines

        def unchecked(name: str, span: Span) -> Resolved:
            return work.apply(resolve_unchecked(name, span, "alpha", lines, repair=self._repair))

        code = unchecked("document_code", lay.document_code)
        if not (code.ok and code.value[0] != FILLER and self._code_fits(fmt, code.value)):
            work.problems.append("document_code_invalid")
        issuer = unchecked("issuing_country", lay.issuing_country)
        nationality = unchecked("nationality", lay.nationality)
        if not unchecked("name", lay.name).ok:
            work.problems.append("name_invalid")
        for label, res in (("issuing_country", issuer), ("nationality", nationality)):
            value = res.value.rstrip(FILLER)
            if not res.ok or not is_known_code(value, allow_specimen=self._allow_specimen):
                work.problems.append(f"{label}_unknown")
        if lines[lay.sex.line][lay.sex.start] not in "MFX<":
            work.problems.append("sex_invalid")
        return code, issuer, nationality

    def _dates_and_personal_number(self, lay: Layout, work: _Work) -> None:
        lines = work.lines
        birth = self._checked("birth_date", [(lay.birth_date, "numeric")],
                              lay.birth_date_check, lines, validator=valid_yymmdd)
        work.checks["birth_date"] = work.apply(birth).ok
        expiry = self._checked("expiry_date", [(lay.expiry_date, "numeric")],
                               lay.expiry_date_check, lines,
                               validator=lambda s: s.isdigit() and valid_yymmdd(s))
        work.checks["expiry_date"] = work.apply(expiry).ok
        if lay.optional_check is not None:
            personal = self._checked("personal_number", [(lay.optional, "alnum")],
                                     lay.optional_check, lines, filler_check_ok=True)
            work.checks["personal_number"] = work.apply(personal).ok

    def _assemble(self, fmt: MrzFormat, lay: Layout, work: _Work, *, code: str, issuer: str,
                  nationality: str, number: str, optional_tail_start: int,
                  composite_ok: bool | None) -> ParsedMrz:
        """The result from the repaired lines; dates get their century here."""
        today = self._today or date.today()
        checks, problems = work.checks, work.problems
        out_lines = ["".join(chars) for chars in work.fixed]
        surname, given = split_name_field(lay.name.take(out_lines))
        birth_raw = lay.birth_date.take(out_lines)
        birth_date = birth_date_from_yymmdd(birth_raw, today) if checks["birth_date"] else None
        expiry_date = (expiry_date_from_yymmdd(lay.expiry_date.take(out_lines), today,
                                               self._window)
                       if checks["expiry_date"] else None)
        if checks["birth_date"] and birth_date is None and FILLER not in birth_raw:
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
        issuing = issuer.rstrip(FILLER)
        return ParsedMrz(
            document_type=fmt, document_code=code, issuing_country=issuing,
            document_number=number, optional_data=optional_data, optional_data_2=optional_2,
            surname=surname, given_names=given, nationality=nationality.rstrip(FILLER),
            birth_date=birth_date, sex=lay.sex.take(out_lines), expiry_date=expiry_date,
            personal_number=personal_number, checks=checks, composite_ok=composite_ok,
            valid=not problems, problems=tuple(problems), repairs=tuple(work.repairs),
            lines=tuple(out_lines), specimen=issuing == "UTO",
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

    def _document_number(self, fmt: MrzFormat, lay: Layout, lines: list[str],
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
            tail = Span(lay.optional.line, lay.optional.start, lay.optional.start + tail_len - 1)
            check = Span(tail.line, tail.end, tail.end + 1)
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

    def _composite(self, lay: Layout, fixed: list[list[str]], repairs: list[Repair],
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
            opts, _forced = position_options(snapshot[li][c], "alnum", extra, self._confusions)
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
    def _protected_positions(lay: Layout, tail_start: int) -> set[tuple[int, int]]:
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


