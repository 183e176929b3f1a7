"""Engines that answer from an image's colour, for tests of the session lifecycle.

The OCR and face engines are replaced (nothing else is): a test chooses what each capture
"shows" (a readable document, an unreadable one, a forged zone, a matching face, another
face, no face) and runs many steps quickly. Real engines are tested in tests/unit/document,
tests/api/test_biometrics.py and the end-to-end tests.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

import numpy as np
from PIL import Image

from idproof.verification.biometrics.analysis import FaceAnalyzer, StillAnalysis
from idproof.verification.biometrics.liveness import FrameObservation
from idproof.verification.document.checks import ExtractedDocument
from idproof.verification.document.reader import DocumentReader, ReadOutcome

# What a capture shows, by its colour.
COLOURS = {"good": (40, 200, 60), "unreadable": (40, 60, 200), "forged": (200, 40, 40),
           "other_face": (200, 40, 40), "no_face": (40, 60, 200), "face": (40, 200, 60)}


def capture(kind: str, nonce: int = 0) -> bytes:
    """A JPEG that shows `kind` (a key of COLOURS); `nonce` makes each one a distinct file."""
    rgb = np.zeros((96, 128, 3), dtype=np.uint8)
    rgb[:] = COLOURS[kind]
    rgb[0, 0] = (nonce % 256, nonce // 256 % 256, 7)  # every upload is a distinct file
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _dominant(rgb: np.ndarray) -> str:
    r, g, b = (float(rgb[..., i].mean()) for i in range(3))
    return "green" if g > max(r, b) else "blue" if b > max(r, g) else "red"


class ColourReader(DocumentReader):
    """Green: a valid document (a new number each time); blue: unreadable; red: a zone read
    identically by every engine whose check digits fail."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def read(self, image_bytes: bytes) -> ReadOutcome:
        with Image.open(io.BytesIO(image_bytes)) as img:
            colour = _dominant(np.asarray(img.convert("RGB")))
        if colour == "blue":
            return ReadOutcome(None, "document_unreadable")
        if colour == "red":
            return ReadOutcome(None, "mrz_checksum_failed")
        self.count += 1
        return ReadOutcome(ExtractedDocument(
            document_type="passport", issuing_country="FRA",
            document_number=f"X{self.count:08d}", surname="TESTER", given_names="ALEX",
            nationality="FRA", birth_date=date(1990, 1, 1), sex="F",
            expiry_date=date(2040, 1, 1), names_verified=True), None)


class ColourFaces(FaceAnalyzer):
    """Green: face A; red: face B (far from A); blue: no face. Liveness frames never show
    a live face turning its head, so a liveness attempt always fails (a retake or a final
    failure, as the workflow's attempts allow)."""

    def __init__(self) -> None:
        pass  # no engines: answers come from the colour

    def analyze_still(self, image: np.ndarray, *, with_pad: bool = False,
                      single_face: bool = True) -> StillAnalysis:
        colour = _dominant(image)
        if colour == "blue":
            return StillAnalysis(None, ("no_face",))
        vec = np.zeros(128)
        vec[0 if colour == "green" else 1] = 1.0
        return StillAnalysis(vec, ())

    def observe_frames(self, frames: Sequence[np.ndarray], timestamps: Sequence[int]
                       ) -> list[FrameObservation]:
        return [FrameObservation(ts, 0) for ts in timestamps]
