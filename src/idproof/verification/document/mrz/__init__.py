"""ICAO Doc 9303 machine-readable zones (TD1/TD2/TD3/MRV-A/MRV-B): layout, parse, build."""

from idproof.verification.document.mrz.build import build_mrz, encode_name, mrz_transliterate
from idproof.verification.document.mrz.dates import (
    birth_date_from_yymmdd,
    expiry_date_from_yymmdd,
)
from idproof.verification.document.mrz.layout import (
    DOCUMENT_UNREADABLE,
    FILLER,
    LINE_SHAPES,
    MRZ_ALPHABET,
    MRZ_CHECKSUM_FAILED,
    Kind,
    MrzError,
    MrzFormat,
    ReasonCode,
    char_value,
    check_digit,
    detect_format,
    field_kinds,
    protected_positions,
    split_mrz_text,
)
from idproof.verification.document.mrz.parse import MrzParser, parse_mrz, split_name_field
from idproof.verification.document.mrz.repair import (
    DIGIT_TO_LETTER,
    LETTER_TO_DIGIT,
    OCR_CONFUSIONS,
)
from idproof.verification.document.mrz.result import ParsedMrz, Repair

__all__ = [
    "DIGIT_TO_LETTER", "DOCUMENT_UNREADABLE", "FILLER", "LETTER_TO_DIGIT", "LINE_SHAPES",
    "MRZ_ALPHABET", "MRZ_CHECKSUM_FAILED", "OCR_CONFUSIONS", "Kind", "MrzError", "MrzFormat",
    "MrzParser", "ParsedMrz", "ReasonCode", "Repair", "birth_date_from_yymmdd", "build_mrz",
    "char_value", "check_digit", "detect_format", "encode_name", "expiry_date_from_yymmdd",
    "field_kinds", "mrz_transliterate", "parse_mrz", "protected_positions", "split_mrz_text",
    "split_name_field",
]
