"""Test and benchmark support (synthetic documents and photos); runtime code never imports it."""

from idproof.testing.documents import (
    DocumentGenerator,
    SyntheticDocument,
)
from idproof.testing.identities import (
    FONT_PACKAGES,
    MM_CARD,
    MM_PASSPORT,
    MRZ_PITCH_MM,
    OCRB_FONT_PATHS,
    SANS_BOLD_FONT_PATHS,
    SANS_FONT_PATHS,
    DocumentKind,
    FontMissing,
    SyntheticIdentity,
    missing_fonts,
    mrz_font_path,
    random_identity,
)
from idproof.testing.photos import (
    DEGRADATION_LEVELS,
    Degradation,
    degrade,
    photograph,
    sample_degradation,
)

__all__ = [
    "DEGRADATION_LEVELS",
    "FONT_PACKAGES",
    "MM_CARD",
    "MM_PASSPORT",
    "MRZ_PITCH_MM",
    "OCRB_FONT_PATHS",
    "SANS_BOLD_FONT_PATHS",
    "SANS_FONT_PATHS",
    "Degradation",
    "DocumentGenerator",
    "DocumentKind",
    "FontMissing",
    "SyntheticDocument",
    "SyntheticIdentity",
    "degrade",
    "missing_fonts",
    "mrz_font_path",
    "photograph",
    "random_identity",
    "sample_degradation",
]
