"""A tenant's accepted documents: issuing countries and document types (pure).

Empty means every one is accepted (the default, so a tenant that never set them sees no
change). A document outside them is declined with `document_not_accepted` whatever the
workflow's rules say: the business does not take it, so no reviewer could approve it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import get_args

from idproof.core.errors import ValidationFailed
from idproof.verification.document.countries import ICAO_SPECIAL_CODES, ISO_3166_ALPHA3
from idproof.workflows.catalog import DocumentType

# The reason code of a document the tenant does not accept (a hard decline).
NOT_ACCEPTED = "document_not_accepted"
# The document types the reader tells apart, in the order the pages list them.
DOCUMENT_TYPES: tuple[str, ...] = get_args(DocumentType)
# Codes a tenant may list: ISO 3166-1 alpha-3 and the three-letter codes ICAO Doc 9303 adds
# for issuers ISO does not cover (Kosovo, the EU, the UN, ...).
COUNTRY_CODES: frozenset[str] = ISO_3166_ALPHA3 | {
    c for c in ICAO_SPECIAL_CODES if len(c) == 3}
# What an MRZ may carry for an issuer that has an ISO code of its own (Germany writes "D").
_MRZ_ALIASES = {"D": "DEU"}
_SPLIT = re.compile(r"[\s,;]+")


@dataclass(frozen=True, slots=True)
class AcceptedDocuments:
    """In a canonical order (countries sorted, types as `DOCUMENT_TYPES`), so that two equal
    settings compare (and fingerprint) equal."""

    countries: tuple[str, ...] = ()
    types: tuple[str, ...] = ()

    def allows_country(self, code: str) -> bool:
        code = _MRZ_ALIASES.get(code, code)
        return not self.countries or code in self.countries

    def allows_type(self, document_type: str) -> bool:
        return not self.types or document_type in self.types

    def allows(self, document_type: str, country: str) -> bool:
        return self.allows_type(document_type) and self.allows_country(country)

    def narrow_types(self, offered: Sequence[str]) -> tuple[str, ...]:
        """The workflow's document types this tenant accepts (in the workflow's order)."""
        return tuple(t for t in offered if self.allows_type(t))

    def narrow_countries(self, offered: Sequence[str] | None) -> tuple[str, ...] | None:
        """The countries to offer: the workflow's (None: any) within the tenant's."""
        if not self.countries:
            return tuple(sorted(offered)) if offered else None
        if not offered:
            return self.countries
        return tuple(c for c in self.countries if c in set(offered))


EVERYTHING = AcceptedDocuments()


def split_countries(text: str) -> list[str]:
    """Country codes typed as free text (spaces, commas or new lines between them)."""
    return [c.upper() for c in _SPLIT.split(text.strip()) if c]


def accepted(countries: Iterable[str], types: Iterable[str]) -> AcceptedDocuments:
    """Validated settings: every country a known code, every type one the reader knows;
    otherwise a 422 naming the unknown ones (codes, never free text: at most 10, shortened)."""
    found_countries = {str(c).upper() for c in countries}
    bad = sorted(c for c in found_countries if c not in COUNTRY_CODES)
    if bad:
        raise ValidationFailed("unknown issuing country code", code="unknown_country",
                               extra={"unknown": [c[:8] for c in bad[:10]
                                                  if c.isascii() and c.isalnum()]})
    found_types = {str(t) for t in types}
    odd = sorted(t for t in found_types if t not in DOCUMENT_TYPES)
    if odd:
        raise ValidationFailed("unknown document type", code="unknown_document_type",
                               extra={"unknown": [t[:32] for t in odd[:10]
                                                  if t.isascii() and t.isidentifier()]})
    if set(DOCUMENT_TYPES) <= found_types:
        found_types = set()  # all of them is the same as none: stored as "every type"
    return AcceptedDocuments(tuple(sorted(found_countries)),
                             tuple(t for t in DOCUMENT_TYPES if t in found_types))
