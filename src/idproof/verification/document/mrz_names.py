"""Names, which no check digit covers: verified only when the engines read them alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from idproof.verification.document.mrz import (
    DIGIT_TO_LETTER,
    FILLER,
    MrzFormat,
    ParsedMrz,
    encode_name,
    split_name_field,
)
from idproof.verification.document.ocr_line import OcrLine

# -- names ------------------------------------------------------------------------------------


def _raw_names(fmt: MrzFormat, texts: Sequence[str], prefix: str = ""
               ) -> tuple[str, str] | None:
    """Primary and secondary identifiers from one engine's own text of the name line.

    On TD2/TD3 the names follow the document code and issuing state (`prefix`, as the
    accepted MRZ has them); an engine that lost or gained a character there ("PD<<" for
    "P<D<<") would shift the names, so they start after that engine's own issuing state."""
    li, start = (2, 0) if fmt is MrzFormat.TD1 else (0, 5)
    if li >= len(texts) or len(texts[li]) <= start:
        return None
    text = texts[li]
    if start and len(prefix) == start:
        state = prefix[2:5].rstrip(FILLER)
        found = text.find(state, 1, start + 2) if state else -1
        if found >= 0:
            start = found + len(state)
            while start < len(text) and text[start] == FILLER and start < found + 3:
                start += 1  # the state's own fillers ("D<<"), not the names' separators
    return split_name_field(_letters_only(text[start:]))


def settle_names(chosen: ParsedMrz, ocr: dict[str, list[OcrLine]]) -> tuple[ParsedMrz, bool]:
    """Names carry no check digit. They are taken from the most trusted engine's own text
    of the name line (not from a line stretched to fit), and count as verified only when
    every engine's own text gives the same primary and secondary identifiers."""
    prefix = chosen.lines[0][:5]
    names = [_raw_names(chosen.document_type, [o.text for o in res], prefix)
             for res in ocr.values()]
    trusted = next((n for n in names if n is not None and n[0]), None)
    if trusted is None:
        return chosen, False
    for other in names:
        # PP-OCR now and then drops the first character of a line ("ASONO" for "TASONO");
        # another engine's reading that is the same but for one leading letter is taken.
        if (other is not None and other[1] == trusted[1] and len(other[0]) > 1
                and other[0][1:] == trusted[0] and other[0][0].isalpha()):
            trusted = other
            break
    if trusted != (chosen.surname, chosen.given_names):
        li, start = (2, 0) if chosen.document_type is MrzFormat.TD1 else (0, 5)
        lines = list(chosen.lines)
        width = len(lines[li]) - start
        field_text = encode_name(trusted[0], trusted[1], width)
        lines[li] = lines[li][:start] + field_text
        chosen = replace(chosen, surname=trusted[0], given_names=trusted[1],
                         lines=tuple(lines))
    verified = len(names) >= 2 and all(n == trusted for n in names)
    return chosen, verified


def _letters_only(text: str) -> str:
    # Digits cannot stand in a name: the parser maps them to letters, and so must we here.
    return "".join(DIGIT_TO_LETTER.get(c, c) for c in text)
