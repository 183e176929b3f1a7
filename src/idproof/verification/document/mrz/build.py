"""Build valid MRZs from fields (for the synthetic document generator and tests)."""

from __future__ import annotations

import unicodedata
from datetime import date

from idproof.verification.document.mrz.layout import (
    FILLER,
    LAYOUTS,
    LINE_SHAPES,
    MrzFormat,
    Span,
    check_digit,
)


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
    lay = LAYOUTS[fmt]
    n_lines, width = LINE_SHAPES[fmt]
    rows = [[FILLER] * width for _ in range(n_lines)]

    def put(span: Span, value: str) -> None:
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

