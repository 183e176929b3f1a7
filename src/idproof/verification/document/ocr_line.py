"""What an OCR engine returns for one MRZ line, and the protocol every engine meets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

MRZ_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"


@dataclass(frozen=True, slots=True)
class OcrLine:
    """One recognised line; `centers` (when the engine gives them) are each character's
    horizontal centre as a share of the line image width, for aligning to MRZ columns."""

    text: str
    centers: tuple[float, ...] | None = None
    confidence: float | None = None
    char_confidences: tuple[float, ...] | None = None  # 0..1, one per character of `text`


@runtime_checkable
class MrzOcrEngine(Protocol):
    """Reads single MRZ text lines (grayscale uint8 images, dark text on light)."""

    name: str

    def read_lines(self, lines: Sequence[np.ndarray]) -> list[OcrLine]: ...


def clean_ocr_text(text: str) -> str:
    """Upper-case, fillers drawn as guillemets or spaced out restored, the rest dropped."""
    text = text.upper().replace("«", "<<").replace("\u2039", "<").replace("≤", "<")
    return "".join(c for c in text if c in MRZ_CHARS)
