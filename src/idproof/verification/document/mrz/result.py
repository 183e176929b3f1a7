"""The outcome of parsing one MRZ: its fields, every check, and what was repaired."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from idproof.verification.document.mrz.layout import (
    DOCUMENT_UNREADABLE,
    MRZ_CHECKSUM_FAILED,
    MrzError,
    MrzFormat,
    ReasonCode,
)


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


