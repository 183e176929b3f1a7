"""The document page's issuing countries: names in the page's language (CLDR data through
Babel), and only the countries that issue the chosen document type."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from babel import Locale
from babel.core import get_global

from idproof.verification.document.countries import ISO_3166_ALPHA3

# Which countries issue each document type that idproof reads. `None`: every country (ICAO
# 9303 passports, visas and residence permits). National identity cards with a machine-
# readable zone (TD1) are issued by the countries below; driving licences are read from their
# AAMVA PDF417 barcode, so only the United States' and Canada's are accepted. This only
# narrows the list shown to the person ("Other / not listed" stays): it is a guide, and the
# workflow's own `document.countries` is the rule.
_ID_CARD_ISSUERS_TEXT = """
ALB AND ARE ARG ARM AUT AZE BEL BGR BHR BIH BOL BRA CHE CHL CIV CMR COL CRI CYP CZE DEU DOM
ECU ESP EST FIN FRA GEO GHA GRC GTM HND HRV HUN ISL ITA JOR KAZ KEN KGZ KWT LIE LTU LUX LVA
MAR MCO MDA MEX MKD MLI MLT MNE NER NGA NIC NLD NOR OMN PAN PER POL PRT PRY QAT ROU RWA SEN
SLV SMR SRB SVK SVN SWE TGO TUN TUR UGA UKR URY UZB VEN
"""
ID_CARD_ISSUERS: frozenset[str] = frozenset(_ID_CARD_ISSUERS_TEXT.split())
DRIVING_LICENCE_ISSUERS: frozenset[str] = frozenset({"USA", "CAN"})
ISSUERS: dict[str, frozenset[str] | None] = {
    "passport": None, "visa": None, "residence_permit": None,
    "id_card": ID_CARD_ISSUERS, "driving_licence": DRIVING_LICENCE_ISSUERS,
}


@dataclass(frozen=True, slots=True)
class CountryOption:
    code: str  # ISO 3166-1 alpha-3, as in the MRZ
    name: str  # in the page's language
    types: tuple[str, ...]  # the offered document types this country issues


def alpha2(code: str) -> str | None:
    """The ISO 3166-1 alpha-2 code of an alpha-3 one (CLDR's territory aliases)."""
    for alias in get_global("territory_aliases").get(code, ()):
        if len(alias) == 2 and alias.isalpha():
            return str(alias)
    return None


def _sort_key(name: str) -> str:
    # Accents do not move a name to the end of the list (Österreich sorts with O).
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def issues(code: str, document_type: str) -> bool:
    issuers = ISSUERS.get(document_type)
    return issuers is None or code in issuers


@lru_cache(maxsize=64)
def country_options(locale: str, types: tuple[str, ...],
                    allowed: tuple[str, ...] | None = None) -> tuple[CountryOption, ...]:
    """The countries to offer, named in `locale` and sorted by that name; each with the
    document types (of `types`) it issues; countries issuing none of them are left out."""
    names = Locale.parse(locale).territories
    options = []
    for code in (allowed if allowed is not None else sorted(ISO_3166_ALPHA3)):
        issued = tuple(t for t in types if issues(code, t))
        if not issued:
            continue
        a2 = alpha2(code)
        name = names.get(a2, code) if a2 else code
        options.append(CountryOption(code, str(name), issued))
    return tuple(sorted(options, key=lambda o: (_sort_key(o.name), o.code)))
