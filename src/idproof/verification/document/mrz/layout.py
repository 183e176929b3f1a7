"""MRZ formats and their layouts: shapes, field spans, check digits, format detection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

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


Kind = Literal["numeric", "alpha", "alnum"]


# -- layouts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Span:
    line: int
    start: int
    end: int  # exclusive

    def take(self, lines: Sequence[str]) -> str:
        return lines[self.line][self.start:self.end]


@dataclass(frozen=True, slots=True)
class Layout:
    document_code: Span
    issuing_country: Span
    name: Span
    document_number: Span
    document_number_check: Span
    nationality: Span
    birth_date: Span
    birth_date_check: Span
    sex: Span
    expiry_date: Span
    expiry_date_check: Span
    optional: Span  # TD3: personal number
    optional_check: Span | None  # TD3 only
    optional_2: Span | None  # TD1 only
    composite: tuple[Span, ...]  # spans the composite digit covers, in order
    composite_check: Span | None


def _two_line(width: int, *, composite: bool, optional_check: bool) -> Layout:
    # TD2, TD3, MRV-A and MRV-B share line 2 up to column 28; they differ in the tail.
    opt_end = width - (1 if composite else 0) - (1 if optional_check else 0)
    comp_check = Span(1, width - 1, width) if composite else None
    opt_check = Span(1, opt_end, opt_end + 1) if optional_check else None
    composite_spans = (
        (Span(1, 0, 10), Span(1, 13, 20), Span(1, 21, width - 1)) if composite else ())
    return Layout(
        document_code=Span(0, 0, 2), issuing_country=Span(0, 2, 5), name=Span(0, 5, width),
        document_number=Span(1, 0, 9), document_number_check=Span(1, 9, 10),
        nationality=Span(1, 10, 13), birth_date=Span(1, 13, 19),
        birth_date_check=Span(1, 19, 20), sex=Span(1, 20, 21),
        expiry_date=Span(1, 21, 27), expiry_date_check=Span(1, 27, 28),
        optional=Span(1, 28, opt_end), optional_check=opt_check, optional_2=None,
        composite=composite_spans, composite_check=comp_check,
    )


LAYOUTS: Final[dict[MrzFormat, Layout]] = {
    MrzFormat.TD1: Layout(
        document_code=Span(0, 0, 2), issuing_country=Span(0, 2, 5), name=Span(2, 0, 30),
        document_number=Span(0, 5, 14), document_number_check=Span(0, 14, 15),
        nationality=Span(1, 15, 18), birth_date=Span(1, 0, 6), birth_date_check=Span(1, 6, 7),
        sex=Span(1, 7, 8), expiry_date=Span(1, 8, 14), expiry_date_check=Span(1, 14, 15),
        optional=Span(0, 15, 30), optional_check=None, optional_2=Span(1, 18, 29),
        composite=(Span(0, 5, 30), Span(1, 0, 7), Span(1, 8, 15), Span(1, 18, 29)),
        composite_check=Span(1, 29, 30),
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



def field_kinds(fmt: MrzFormat) -> dict[tuple[int, int], Kind]:
    """(line, column) -> "numeric" / "alpha" / "alnum" for every position of the format, so
    that a reader knows where an "O" can only be a zero, and where it could be either."""
    lay = LAYOUTS[fmt]
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
    lay = LAYOUTS[fmt]
    spans: list[Span] = [lay.document_number, lay.document_number_check, lay.birth_date,
                          lay.birth_date_check, lay.expiry_date, lay.expiry_date_check]
    if lay.optional_check is not None:
        spans += [lay.optional, lay.optional_check]
    if lay.composite_check is not None:
        spans += [*lay.composite, lay.composite_check]
    out: set[tuple[int, int]] = {(s.line, c) for s in spans for c in range(s.start, s.end)}
    return sorted(out)

