"""Random, never real, identities for synthetic documents, and the fonts they are drawn in."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Final, Literal

from PIL import ImageFont

# Debian's fonts-ocr-b (the MRZ typeface of Doc 9303) and fonts-dejavu-core. There is no
# fallback: a document drawn in another typeface measures a different reader.
OCRB_FONT_PATHS: Final = (
    "/usr/share/fonts/opentype/ocr-b/OCRB.otf",
    "/usr/share/fonts/truetype/ocr-b/OCRB.ttf",
)
SANS_FONT_PATHS: Final = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)
SANS_BOLD_FONT_PATHS: Final = ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",)

# Made-up syllables: names are composed at random so that no real person's data is used.
_SYLLABLES: Final = (
    "BA", "BE", "BO", "DA", "DI", "DRA", "EL", "FA", "GA", "HA", "IN", "JO", "KA", "KE", "LA",
    "LI", "LO", "MA", "ME", "MI", "MO", "NA", "NE", "NI", "NO", "OR", "PA", "RA", "RE", "RI",
    "RO", "SA", "SE", "SI", "SO", "TA", "TE", "TI", "TO", "VA", "VE", "VI", "WA", "YA", "ZA",
    "ZO", "AN", "AR", "EN", "ER", "ON", "UL", "US",
)
_SURNAME_ENDINGS: Final = ("", "", "SEN", "SON", "OV", "EZ", "ER", "MAN", "INI", "OS", "AKI")
_COUNTRIES: Final = ("FRA", "D", "ITA", "ESP", "NLD", "BEL", "AUT", "SWE", "NOR", "FIN", "DNK",
                     "POL", "PRT", "IRL", "GBR", "CAN", "AUS", "NZL", "JPN", "BRA", "MEX",
                     "ZAF", "IND", "KEN", "CHE", "GRC", "CZE", "HUN", "ROU", "EST")
_US_STATES: Final = ("CA", "NY", "TX", "FL", "WA", "OR", "IL", "MA", "CO", "AZ")

MM_PASSPORT: Final = (125.0, 88.0)  # ID-3
MM_CARD: Final = (85.6, 54.0)  # ID-1
MRZ_PITCH_MM: Final = 2.54  # 10 characters per inch (Doc 9303 part 3)

DocumentKind = Literal["passport", "id_card", "driving_licence"]


def _first_existing(paths: tuple[str, ...]) -> str | None:
    return next((p for p in paths if Path(p).is_file()), None)


class FontMissing(RuntimeError):
    """A typeface the synthetic documents are drawn in is not installed."""


FONT_PACKAGES: Final = {"mrz": "fonts-ocr-b", "sans": "fonts-dejavu-core",
                        "bold": "fonts-dejavu-core"}


def mrz_font_path() -> str | None:
    """OCR-B when `fonts-ocr-b` is installed, else None."""
    return _first_existing(OCRB_FONT_PATHS)


def missing_fonts() -> list[str]:
    """The Debian packages whose fonts the generator needs and cannot find."""
    paths = {"mrz": OCRB_FONT_PATHS, "sans": SANS_FONT_PATHS, "bold": SANS_BOLD_FONT_PATHS}
    return sorted({FONT_PACKAGES[k] for k, p in paths.items() if _first_existing(p) is None})


@lru_cache(maxsize=64)
def _font(kind: str, size: int) -> ImageFont.FreeTypeFont:
    paths = {"mrz": OCRB_FONT_PATHS, "sans": SANS_FONT_PATHS,
             "bold": SANS_BOLD_FONT_PATHS}[kind]
    path = _first_existing(paths)
    if path is None:
        raise FontMissing(f"synthetic documents need {FONT_PACKAGES[kind]} "
                          f"(apt-get install -y {FONT_PACKAGES[kind]})")
    return ImageFont.truetype(path, size)


# -- identities -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyntheticIdentity:
    surname: str
    given_names: str
    sex: str  # "M", "F" or "X"
    birth_date: date
    nationality: str
    issuing_country: str
    document_number: str
    issue_date: date
    expiry_date: date
    personal_number: str = ""
    optional_data: str = ""
    place_of_birth: str = ""


def _name(rng: random.Random, syllables: tuple[int, int]) -> str:
    n = rng.randint(*syllables)
    return "".join(rng.choice(_SYLLABLES) for _ in range(n))


def random_identity(rng: random.Random, *, today: date, kind: DocumentKind = "passport",
                    country: str | None = None) -> SyntheticIdentity:
    surname = _name(rng, (2, 3)) + rng.choice(_SURNAME_ENDINGS)
    if rng.random() < 0.15:
        surname += " " + _name(rng, (2, 3))
    given = " ".join(_name(rng, (2, 3)) for _ in range(rng.choice((1, 1, 2))))
    sex = rng.choice("MMMFFFX") if kind != "driving_licence" else rng.choice("MF")
    birth = today - timedelta(days=rng.randint(18 * 365 + 5, 85 * 365))
    validity = 10 if kind == "passport" else rng.choice((5, 10))
    # Issued within its validity, so a fresh synthetic document has not expired yet.
    issue = today - timedelta(days=rng.randint(10, validity * 365 - 30))
    expiry = issue + timedelta(days=validity * 365 - 1)
    country = country or rng.choice(_COUNTRIES)
    alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    if kind == "driving_licence":
        number = rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") + "".join(
            rng.choice("0123456789") for _ in range(rng.choice((7, 8, 12))))
    elif rng.random() < 0.5:
        number = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2)) + "".join(
            rng.choice("0123456789") for _ in range(7))
    else:
        number = "".join(rng.choice(alnum) for _ in range(9))
    personal = "".join(rng.choice(alnum) for _ in range(rng.choice((0, 0, 9, 11))))
    return SyntheticIdentity(
        surname=surname, given_names=given, sex=sex, birth_date=birth, nationality=country,
        issuing_country=country, document_number=number, issue_date=issue, expiry_date=expiry,
        personal_number=personal if kind == "passport" else "",
        optional_data=personal[:9] if kind == "id_card" else "",
        place_of_birth=_name(rng, (2, 3)).title(),
    )
