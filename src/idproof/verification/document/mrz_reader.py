"""Read the MRZ of a document photo: find and deskew the zone (OpenCV), cut its lines, OCR
them with every engine, and accept only what the check digits and the engines confirm."""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from idproof.verification.document.engines import default_engines
from idproof.verification.document.mrz import (
    DOCUMENT_UNREADABLE,
    FILLER,
    LINE_SHAPES,
    MRZ_CHECKSUM_FAILED,
    OCR_CONFUSIONS,
    MrzError,
    MrzParser,
    ParsedMrz,
    ReasonCode,
    char_value,
    detect_format,
    protected_positions,
)
from idproof.verification.document.mrz_names import settle_names
from idproof.verification.document.mrz_refusal import agreed_zone, refusal_reason
from idproof.verification.document.mrz_shapes import apply_shape_votes, shape_doubts, shape_votes
from idproof.verification.document.mrz_text import align, fit_line
from idproof.verification.document.mrz_zone import MrzRegion, find_mrz_regions
from idproof.verification.document.ocr_line import MrzOcrEngine, OcrLine


@dataclass(slots=True)
class MrzReadResult:
    """The outcome of reading one image. `mrz` is set only when valid; `names_verified` is
    True only when two engines read the same (check-digit-free) names."""

    mrz: ParsedMrz | None
    names_verified: bool = False
    reason: ReasonCode | None = None
    engines_valid: tuple[str, ...] = ()
    readings: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.mrz is not None




# -- the reader -------------------------------------------------------------------------------


class MrzReader:
    """Reads an MRZ from a photo with several OCR engines (in order of trust).

    Every mix of the engines' line readings is parsed, each line taking the other engines'
    aligned characters (and, for O/0, a glyph-shape vote) as candidates that only check
    digits may pick. A result is accepted only when exactly one valid MRZ comes out of all
    of that (two different valid ones: refused), when a second engine corroborates its
    check-digit protected characters, and never with an unknown ("<") birth date. Names,
    which no check digit covers, count as verified only when every engine read them alike.
    """

    def __init__(self, engines: Sequence[MrzOcrEngine] | None = None, *,
                 today: date | None = None, allow_specimen: bool = False) -> None:
        self.engines = list(engines) if engines is not None else default_engines()
        if not self.engines:
            raise RuntimeError("no OCR engine available (tesserocr / rapidocr)")
        # Candidates come from the other engines and from the O/0 shape vote, not from the
        # generic confusion table (which can turn one misread into a passing one); every
        # candidate counts (exhaustive), so two that both pass make the field ambiguous.
        self._parser = MrzParser(today=today, allow_specimen=allow_specimen,
                                 confusion_repair=False, max_repairs=3, exhaustive=True)

    def read(self, image: Any) -> MrzReadResult:
        started = time.perf_counter()
        result = MrzReadResult(None, reason=DOCUMENT_UNREADABLE)
        declined: MrzReadResult | None = None
        for region in find_mrz_regions(image):
            result = self._read_region(region)
            if result.ok:
                break
            if result.reason == MRZ_CHECKSUM_FAILED and declined is None:
                declined = result
        else:
            # A zone that engines read alike and whose check digits fail is evidence about
            # the document; a later candidate region (other text on the page) that nobody
            # could read must not hide it behind a retry.
            if declined is not None:
                result = declined
        result.seconds = time.perf_counter() - started
        return result

    def _read_region(self, region: MrzRegion) -> MrzReadResult:
        lines = list(region.lines)
        if len(lines) > 3:
            lines = lines[-3:]  # extra bands above the zone: the MRZ sits at the bottom
        if len(lines) < 2:
            return MrzReadResult(None, reason=DOCUMENT_UNREADABLE)
        ocr = {engine.name: engine.read_lines(lines) for engine in self.engines}
        # An engine that abstained (read nothing at all) neither votes nor corroborates.
        ocr = {name: res for name, res in ocr.items() if any(o.text for o in res)} or ocr
        readings = {name: tuple(o.text for o in res) for name, res in ocr.items()}
        valid = self._candidates(ocr, len(lines), lines)
        if len(valid) != 1:
            # Nothing valid, or two different valid values (one of them a misread that the
            # check digits cannot see): refuse rather than pick.
            return self._refuse(readings, lines, valid_readings=len(valid))
        chosen, sources = next(iter(valid.values()))
        if len(self.engines) >= 2 and not _corroborated(chosen, sources, ocr):
            # Only one engine saw what the check digits accepted: a reader's doubt.
            return self._refuse(readings, lines, valid_readings=1)
        if chosen.birth_date is None:
            # "<" in a birth date means "unknown" to Doc 9303, but to OCR it is also what a
            # lost "0" turns into, with the same check-digit weight: not accepted from a photo
            # (and not held against the document either: its check digits passed).
            return self._refuse(readings, lines, valid_readings=1)
        chosen, verified = settle_names(chosen, ocr)
        return MrzReadResult(chosen, names_verified=verified, reason=None,
                             engines_valid=tuple(dict.fromkeys(sources)), readings=readings)

    def _refuse(self, readings: dict[str, tuple[str, ...]], images: Sequence[np.ndarray],
                *, valid_readings: int) -> MrzReadResult:
        """A refusal, with the reason `refusal_reason` gives (decline or retry)."""
        zone = agreed_zone(readings)
        doubts = shape_doubts(zone[0], images) if zone is not None else set()
        reason = refusal_reason(readings, valid_readings=valid_readings, doubts=doubts)
        return MrzReadResult(None, reason=reason, readings=readings)

    def _candidates(self, ocr: dict[str, list[OcrLine]], n_lines: int,
                    images: Sequence[np.ndarray] | None = None,
                    ) -> dict[tuple[object, ...], tuple[ParsedMrz, tuple[str, ...]]]:
        """Every valid MRZ that some mix of the engines' lines gives, each line taking the
        other engines' aligned readings as repair candidates and the O/0 shape vote."""
        trust = list(ocr)
        valid: dict[tuple[object, ...], tuple[ParsedMrz, tuple[str, ...]]] = {}
        widths = sorted({w for cnt, w in LINE_SHAPES.values() if cnt == n_lines})
        for width in widths:
            per_line: list[list[tuple[str, str]]] = []
            for li in range(n_lines):
                seen: dict[str, str] = {}
                # A reading of the right length is taken as is; lines that had to be
                # stretched or squeezed (a character lost or gained) only when none is.
                exact = [n for n in trust if len(ocr[n][li].text) == width]
                for name in exact or trust:
                    for text in fit_line(ocr[name][li], width)[: 1 if exact else 2]:
                        seen.setdefault(text, name)
                per_line.append([(name, text) for text, name in seen.items()])
            if not all(per_line):
                continue
            for combo in itertools.product(*per_line):
                lines, alternatives = _aligned_alternatives(combo, ocr, trust)
                try:
                    fmt = detect_format(lines)
                except MrzError:
                    continue
                if images is not None and len(images) == len(lines):
                    apply_shape_votes(lines, alternatives, shape_votes(lines, images, fmt))
                try:
                    parsed = self._parser.parse(lines, alternatives)
                except MrzError:
                    continue
                if parsed.valid:
                    valid.setdefault(_protected_key(parsed),
                                     (parsed, tuple(n for n, _t in combo)))
        return valid


def _protected_key(p: ParsedMrz) -> tuple[object, ...]:
    return (p.document_type, p.document_code, p.issuing_country, p.document_number,
            p.nationality, p.birth_date, p.sex, p.expiry_date, p.personal_number,
            p.optional_data, p.optional_data_2)


def _congruent(a: str, b: str) -> bool:
    """Characters whose values differ by a multiple of 10: no check digit tells them apart."""
    return (char_value(a) - char_value(b)) % 10 == 0




def _aligned_alternatives(combo: Sequence[tuple[str, str]], ocr: dict[str, list[OcrLine]],
                          trust: Sequence[str]
                          ) -> tuple[list[str], dict[tuple[int, int], str]]:
    """The chosen lines adjusted by trust, and what the other engines read where they differ.

    Each other engine's raw text is aligned to the line (difflib): only one-for-one
    substitutions become candidates, so a dropped or extra character in one engine does not
    shift its whole reading into "alternatives". Where two engines read characters the check
    digits cannot separate ("<" and "K", "6" and "G"), offering both would only make the
    field ambiguous: the more trusted engine's character is taken.
    """
    rank = {name: i for i, name in enumerate(trust)}
    lines = [list(text) for _name, text in combo]
    alts: dict[tuple[int, int], str] = {}
    dissent: dict[tuple[int, int], set[str]] = {}
    agreed: set[tuple[int, int]] = set()
    width = len(combo[0][1])
    for li, (source, text) in enumerate(combo):
        for name in trust:
            if name == source or li >= len(ocr[name]):
                continue
            if rank[name] < rank[source]:
                # A more trusted engine's reading, fitted to the same width, settles the
                # characters that no check digit can separate.
                for fitted in fit_line(ocr[name][li], width)[:1]:
                    for col, (a, b) in enumerate(zip(text, fitted, strict=True)):
                        if a != b and _congruent(a, b):
                            lines[li][col] = b
            pairs = sorted(align(text, ocr[name][li].text).items())
            for col, b in pairs:
                a = text[col]
                if a == b:
                    continue
                if _congruent(a, b):
                    if rank[name] < rank[source]:
                        lines[li][col] = b
                    continue
                if a == FILLER and rank[name] > rank[source]:
                    # A less trusted engine's "character" where the trusted one reads a
                    # filler is, here, Tesseract drawing "<" as K, S or E: not a candidate.
                    continue
                # An "O" or "0" read where the line has neither brings its twin: engines swap
                # them all the time, and the chosen character may be a third misread of
                # either ("U" weighs as "0" in every check digit).
                twins = "0O" if b in "0O" and a not in "0O" else b
                for cand in twins:
                    if cand not in alts.get((li, col), ""):
                        alts[(li, col)] = alts.get((li, col), "") + cand
                dissent.setdefault((li, col), set()).add(name)
            for col, b in pairs:
                if text[col] == b:
                    agreed.add((li, col))
    _add_confusion_partners(combo, dissent, agreed, alts)
    return ["".join(line) for line in lines], alts



def _add_confusion_partners(combo: Sequence[tuple[str, str]],
                            dissent: Mapping[tuple[int, int], set[str]],
                            agreed: set[tuple[int, int]],
                            alts: dict[tuple[int, int], str]) -> None:
    """A character that every other engine read otherwise, none alike, may itself be a
    misread: what it is commonly misread from is a candidate too. (A "0" read as "O" by two
    engines and as "U", which weighs as "0" in every check digit, by the third must come
    out ambiguous, not as the one reading that happens to pass.)"""
    for (li, col), names in dissent.items():
        a = combo[li][1][col]
        if (li, col) in agreed or len(names) < 2:
            continue
        for cand in OCR_CONFUSIONS.get(a, ()):
            if cand not in alts.get((li, col), ""):
                alts[(li, col)] = alts.get((li, col), "") + cand


# -- corroboration ----------------------------------------------------------------------------

def _corroborated(chosen: ParsedMrz, combo_sources: Sequence[str],
                  ocr: dict[str, list[OcrLine]], max_unseen: int = 2) -> bool:
    """Whether a second engine saw the check-digit protected characters of the accepted MRZ.

    Another engine's reading, aligned to each line, must not hold a character of the same
    check-digit weight as the accepted one (a lost "0" read as "U" by one engine passes every
    check digit: only the other engine can tell), and may leave at most `max_unseen`
    protected characters of a line unaligned (a garbled second reading proves nothing).
    """
    protected: dict[int, list[int]] = {}
    for li, col in protected_positions(chosen.document_type, chosen.lines):
        if chosen.lines[li][col] != FILLER:
            protected.setdefault(li, []).append(col)
    for li, cols in protected.items():
        line = chosen.lines[li]
        for name in ocr:
            if name == combo_sources[li] or li >= len(ocr[name]):
                continue
            seen = align(line, ocr[name][li].text)
            unseen = 0
            ok = True
            for col in cols:
                got = seen.get(col)
                if got is None:
                    unseen += 1
                elif got != line[col] and _congruent(got, line[col]):
                    ok = False
                    break
            if ok and unseen <= max_unseen:
                break
        else:
            return False
    return True
