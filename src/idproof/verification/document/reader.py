"""Reads an identity document from one image: the MRZ first, then an AAMVA PDF417 barcode."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

from PIL import Image

from idproof.verification.document.aamva import AamvaError
from idproof.verification.document.barcode import read_aamva
from idproof.verification.document.checks import ExtractedDocument, from_aamva, from_mrz
from idproof.verification.document.mrz_reader import MrzReader


@dataclass(frozen=True, slots=True)
class ReadOutcome:
    document: ExtractedDocument | None
    reason: str | None  # a stable reason code when nothing valid was read


class DocumentReader:
    """One per process: the OCR engines load once, on first use."""

    def __init__(self) -> None:
        self._mrz: MrzReader | None = None
        self._lock = threading.Lock()

    def _mrz_reader(self) -> MrzReader:
        with self._lock:
            if self._mrz is None:
                self._mrz = MrzReader()
            return self._mrz

    def read(self, image_bytes: bytes) -> ReadOutcome:
        with Image.open(io.BytesIO(image_bytes)) as img:
            rgb = img.convert("RGB")
        mrz = self._mrz_reader().read(rgb)
        if mrz.ok and mrz.mrz is not None:
            return ReadOutcome(from_mrz(mrz.mrz, mrz.names_verified), None)
        try:
            record = read_aamva(rgb)
        except AamvaError:
            record = None
        if record is not None and record.valid:
            return ReadOutcome(from_aamva(record), None)
        return ReadOutcome(None, str(mrz.reason or "document_unreadable"))
