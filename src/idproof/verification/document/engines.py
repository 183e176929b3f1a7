"""The MRZ OCR engines available here, in order of trust."""

from __future__ import annotations

from idproof.verification.document.glyphs import GlyphEngine
from idproof.verification.document.ocr import RapidOcrEngine, TesseractEngine
from idproof.verification.document.ocr_line import MrzOcrEngine


def default_engines() -> list[MrzOcrEngine]:
    """Every engine that can start here (a missing wheel just leaves its engine out)."""
    engines: list[MrzOcrEngine] = []
    # Order of trust, as measured on synthetic documents (bench/documents.py): the fixed-pitch
    # glyph reader never drops or gains a character; PP-OCR reads OCR-B far better than
    # Tesseract's general English model, which misreads "<" as "K".
    for factory in (GlyphEngine, RapidOcrEngine, TesseractEngine):
        try:
            engines.append(factory())
        except (ImportError, RuntimeError, OSError):
            continue
    return engines
