"""Country names and ISO alpha-3 codes, as the lists write them, to ISO alpha-2 (CLDR data)."""

from __future__ import annotations

import re
from functools import lru_cache

from babel import Locale
from babel.core import get_global

from idproof.screening.normalize import normalize

# Official names the lists use that CLDR's short English names do not cover.
_EXTRA = {
    "russian federation": "ru", "korea north": "kp", "korea south": "kr",
    "democratic people s republic of korea": "kp", "republic of korea": "kr",
    "iran islamic republic of": "ir", "islamic republic of iran": "ir",
    "syrian arab republic": "sy", "united kingdom of great britain and northern ireland": "gb",
    "united kingdom": "gb", "uk": "gb", "united states of america": "us", "usa": "us",
    "venezuela bolivarian republic of": "ve", "bolivia plurinational state of": "bo",
    "lao people s democratic republic": "la", "viet nam": "vn", "burma": "mm",
    "congo democratic republic of the": "cd", "democratic republic of the congo": "cd",
    "republic of moldova": "md", "moldova republic of": "md", "tanzania united republic of": "tz",
    "palestinian territory occupied": "ps", "state of palestine": "ps", "turkiye": "tr",
    "cote d ivoire": "ci", "ivory coast": "ci", "czech republic": "cz", "macedonia": "mk",
}


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    table = {normalize(name): code.lower()
             for code, name in Locale("en").territories.items() if len(code) == 2}
    table.update(_EXTRA)
    return table


def alpha2(value: str) -> str | None:
    """'IR', 'IRN', 'Iran', 'Iran, Islamic Republic of' -> 'ir'; None when unknown."""
    text = value.strip()
    if re.fullmatch(r"[A-Za-z]{2}", text):
        code = text.lower()
        return code if code.upper() in Locale("en").territories and code != "zz" else None
    if re.fullmatch(r"[A-Za-z]{3}", text):
        aliases = get_global("territory_aliases").get(text.upper())
        if aliases and str(aliases[0]) != "ZZ" and str(aliases[0]) in Locale("en").territories:
            return str(aliases[0]).lower()
        return None
    return _names().get(normalize(text))
