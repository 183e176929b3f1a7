"""Synthetic documents for tests and benchmarks: TD3 passports, TD1 cards, AAMVA licences."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from PIL import Image, ImageDraw

from idproof.testing.identities import (
    _US_STATES,
    MM_CARD,
    MM_PASSPORT,
    MRZ_PITCH_MM,
    DocumentKind,
    SyntheticIdentity,
    _font,
    random_identity,
)
from idproof.verification.document.aamva import build_aamva, format_aamva_date
from idproof.verification.document.mrz import MrzFormat, build_mrz, encode_name

# -- rendering --------------------------------------------------------------------------------


@dataclass(slots=True)
class SyntheticDocument:
    kind: DocumentKind
    identity: SyntheticIdentity
    front: Image.Image
    back: Image.Image | None = None
    mrz_format: MrzFormat | None = None
    mrz_lines: tuple[str, ...] = ()
    barcode_payload: str | None = None
    expected: dict[str, object] = field(default_factory=dict)

    @property
    def mrz_image(self) -> Image.Image:
        """The side that carries the MRZ (the back of an ID card, the passport's data page)."""
        return self.back if self.kind == "id_card" and self.back is not None else self.front


def _pastel(rng: random.Random, lo: int = 200) -> tuple[int, int, int]:
    return (rng.randint(lo, 245), rng.randint(lo, 245), rng.randint(lo, 245))


def _background(size: tuple[int, int], rng: random.Random) -> Image.Image:
    w, h = size
    a, b = np.array(_pastel(rng), float), np.array(_pastel(rng), float)
    t = np.linspace(0, 1, w)[None, :, None]
    arr = np.broadcast_to(a * (1 - t) + b * t, (h, w, 3)).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    draw = ImageDraw.Draw(img)
    # Guilloche-like rosettes: thin interleaved sine curves, as on real security backgrounds.
    for _ in range(14):
        color = tuple(max(0, c - rng.randint(25, 60)) for c in _pastel(rng, 170))
        amp, freq, phase = rng.uniform(0.05, 0.3) * h, rng.uniform(2, 9), rng.uniform(0, 6.3)
        y0 = rng.uniform(0.1, 0.9) * h
        pts = [(x, y0 + amp * math.sin(freq * 2 * math.pi * x / w + phase)
                * math.cos(3 * math.pi * x / w + phase)) for x in range(0, w + 8, 8)]
        draw.line(pts, fill=color, width=1)
    return img


def _portrait(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """A drawn face-like figure: no real person's photo, yet a face-shaped region."""
    w, h = size
    img = Image.new("RGB", size, _pastel(rng, 215))
    d = ImageDraw.Draw(img)
    skin = rng.choice([(241, 194, 167), (224, 172, 138), (198, 134, 94), (141, 85, 56),
                       (255, 219, 190), (170, 110, 75)])
    hair = rng.choice([(30, 20, 15), (80, 50, 30), (150, 110, 60), (200, 170, 110), (90, 90, 90)])
    cloth = tuple(rng.randint(20, 160) for _ in range(3))
    cx = w / 2 + rng.uniform(-0.03, 0.03) * w
    d.ellipse([cx - 0.48 * w, 0.78 * h, cx + 0.48 * w, 1.35 * h], fill=cloth)  # shoulders
    d.rectangle([cx - 0.09 * w, 0.62 * h, cx + 0.09 * w, 0.85 * h], fill=skin)  # neck
    hw, hh = rng.uniform(0.27, 0.32) * w, rng.uniform(0.26, 0.3) * h
    top = 0.16 * h
    d.ellipse([cx - hw - 0.02 * w, top - 0.05 * h, cx + hw + 0.02 * w, top + 1.2 * hh], fill=hair)
    d.ellipse([cx - hw, top, cx + hw, top + 2 * hh], fill=skin)  # face
    d.ellipse([cx - hw - 0.04 * w, top + 0.8 * hh, cx - hw + 0.04 * w, top + 1.2 * hh], fill=skin)
    d.ellipse([cx + hw - 0.04 * w, top + 0.8 * hh, cx + hw + 0.04 * w, top + 1.2 * hh], fill=skin)
    ey = top + 0.85 * hh
    for sx in (-1, 1):
        ex = cx + sx * 0.38 * hw
        d.ellipse([ex - 0.07 * w, ey - 0.025 * h, ex + 0.07 * w, ey + 0.025 * h], fill="white")
        d.ellipse([ex - 0.03 * w, ey - 0.02 * h, ex + 0.03 * w, ey + 0.02 * h], fill=(60, 40, 30))
        d.line([ex - 0.08 * w, ey - 0.06 * h, ex + 0.08 * w, ey - 0.07 * h], fill=hair, width=3)
    d.line([cx, ey + 0.02 * h, cx - 0.03 * w, top + 1.3 * hh, cx + 0.02 * w, top + 1.32 * hh],
           fill=tuple(int(c * 0.8) for c in skin), width=2)
    my = top + 1.6 * hh
    d.arc([cx - 0.14 * w, my - 0.05 * h, cx + 0.14 * w, my + 0.04 * h], 20, 160,
          fill=(150, 60, 60), width=3)
    return img


class _Canvas:
    """Millimetre coordinates on a page rendered at `ppm` pixels per millimetre."""

    def __init__(self, size_mm: tuple[float, float], ppm: float, rng: random.Random) -> None:
        self.ppm = ppm
        self.size = (round(size_mm[0] * ppm), round(size_mm[1] * ppm))
        self.img = _background(self.size, rng)
        self.draw = ImageDraw.Draw(self.img)

    def px(self, mm: float) -> int:
        return round(mm * self.ppm)

    def text(self, x: float, y: float, text: str, size_mm: float, kind: str = "sans",
             fill: tuple[int, int, int] = (25, 25, 35)) -> None:
        self.draw.text((self.px(x), self.px(y)), text, font=_font(kind, self.px(size_mm)),
                       fill=fill)

    def field(self, x: float, y: float, label: str, value: str, scale: float = 1.0) -> None:
        self.text(x, y, label, 1.6 * scale, fill=(70, 70, 110))
        self.text(x, y + 2.0 * scale, value, 2.6 * scale, kind="bold")

    def paste(self, img: Image.Image, x: float, y: float, w: float, h: float,
              resample: Image.Resampling = Image.Resampling.BICUBIC) -> None:
        self.img.paste(img.resize((self.px(w), self.px(h)), resample), (self.px(x), self.px(y)))

    def mrz(self, lines: tuple[str, ...], bottom_mm: float) -> None:
        """The MRZ on a plain band, OCR-B at 10 characters per inch."""
        width = len(lines[0])
        font_px = self.px(MRZ_PITCH_MM)
        font = _font("mrz", font_px)
        # Scale the font so that one character advance is exactly the MRZ pitch.
        advance = font.getlength("<") if hasattr(font, "getlength") else font_px * 0.6
        font = _font("mrz", max(8, round(font_px * font_px / max(advance, 1))))
        line_pitch = self.px(4.3)
        x0 = (self.size[0] - self.px(MRZ_PITCH_MM * width)) // 2
        y_last = self.size[1] - self.px(bottom_mm)
        band_top = y_last - line_pitch * len(lines) - self.px(1.5)
        self.draw.rectangle([0, band_top, self.size[0], self.size[1]], fill=(246, 246, 240))
        for i, line in enumerate(lines):
            y = y_last - line_pitch * (len(lines) - i)
            for j, ch in enumerate(line):
                self.draw.text((x0 + j * self.px(MRZ_PITCH_MM), y), ch, font=font,
                               fill=(15, 15, 20))


def _fmt_date(d: date) -> str:
    return d.strftime("%d %b %Y").upper()


def _watermark(canvas: _Canvas) -> None:
    # Generated documents say what they are, so an image can never pass for a real one.
    layer = Image.new("L", canvas.size, 0)
    ImageDraw.Draw(layer).text((canvas.px(40), canvas.px(8)), "SYNTHETIC SPECIMEN",
                               font=_font("bold", canvas.px(4)), fill=60)
    canvas.img.paste((190, 60, 60), (0, 0), layer)


class DocumentGenerator:
    """Seeded generator of synthetic documents: the same seed gives the same documents."""

    def __init__(self, seed: int = 0, *, today: date | None = None,
                 px_per_mm: float = 10.0) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - synthetic test data, not secrets
        self.today = today or date(2026, 1, 1)
        self.ppm = px_per_mm

    def identity(self, kind: DocumentKind = "passport") -> SyntheticIdentity:
        return random_identity(self._rng, today=self.today, kind=kind)

    def passport(self, identity: SyntheticIdentity | None = None, *,
                 portrait: Image.Image | None = None) -> SyntheticDocument:
        """A TD3 passport page; `portrait` (a face photo) replaces the drawn one."""
        ident = identity or self.identity("passport")
        rng = self._rng
        lines = build_mrz(MrzFormat.TD3, document_code="P", issuing_country=ident.issuing_country,
                          document_number=ident.document_number, surname=ident.surname,
                          given_names=ident.given_names, nationality=ident.nationality,
                          birth_date=ident.birth_date, sex=ident.sex,
                          expiry_date=ident.expiry_date, personal_number=ident.personal_number)
        c = _Canvas(MM_PASSPORT, self.ppm, rng)
        c.text(6, 4, "PASSPORT / PASSEPORT", 3.2, kind="bold", fill=(30, 40, 100))
        c.text(80, 4, ident.issuing_country.ljust(3, "<").replace("<", ""), 3.2, kind="bold")
        drawn = _portrait((350, 450), rng)  # drawn anyway: the seed's sequence stays the same
        c.paste(portrait.convert("RGB") if portrait is not None else drawn, 6, 12, 32, 41)
        x = 44
        c.field(x, 11, "Type / Type", "P")
        c.field(62, 11, "Code / Code", ident.issuing_country)
        c.field(88, 11, "Passport No. / No. du passeport", ident.document_number)
        c.field(x, 17.5, "Surname / Nom", ident.surname)
        c.field(x, 24, "Given names / Prénoms", ident.given_names)
        c.field(x, 30.5, "Nationality / Nationalité", ident.nationality)
        c.field(x, 37, "Date of birth / Date de naissance", _fmt_date(ident.birth_date))
        c.field(95, 37, "Sex / Sexe", ident.sex)
        c.field(x, 43.5, "Place of birth / Lieu de naissance", ident.place_of_birth)
        c.field(x, 50, "Date of issue / Date de délivrance", _fmt_date(ident.issue_date))
        c.field(88, 50, "Date of expiry / Date d'expiration", _fmt_date(ident.expiry_date))
        _watermark(c)
        c.mrz(lines, bottom_mm=5.0)
        return SyntheticDocument("passport", ident, c.img, None, MrzFormat.TD3, lines,
                                 expected=self._expected(MrzFormat.TD3, "P<", ident, lines))

    def id_card(self, identity: SyntheticIdentity | None = None) -> SyntheticDocument:
        ident = identity or self.identity("id_card")
        rng = self._rng
        lines = build_mrz(MrzFormat.TD1, document_code="ID",
                          issuing_country=ident.issuing_country,
                          document_number=ident.document_number, surname=ident.surname,
                          given_names=ident.given_names, nationality=ident.nationality,
                          birth_date=ident.birth_date, sex=ident.sex,
                          expiry_date=ident.expiry_date, optional_data=ident.optional_data)
        front = _Canvas(MM_CARD, self.ppm, rng)
        front.text(4, 2.5, "IDENTITY CARD / CARTE D'IDENTITÉ", 2.6, kind="bold",
                   fill=(30, 40, 100))
        front.paste(_portrait((300, 385), rng), 4, 8, 24, 31)
        x = 31
        front.field(x, 7.5, "Surname", ident.surname, 0.85)
        front.field(x, 13, "Given names", ident.given_names, 0.85)
        front.field(x, 18.5, "Sex", ident.sex, 0.85)
        front.field(44, 18.5, "Nationality", ident.nationality, 0.85)
        front.field(x, 24, "Date of birth", _fmt_date(ident.birth_date), 0.85)
        front.field(x, 29.5, "Document No.", ident.document_number, 0.85)
        front.field(x, 35, "Date of expiry", _fmt_date(ident.expiry_date), 0.85)
        _watermark(front)
        back = _Canvas(MM_CARD, self.ppm, rng)
        back.field(4, 4, "Date of issue", _fmt_date(ident.issue_date), 0.85)
        back.field(40, 4, "Place of birth", ident.place_of_birth, 0.85)
        back.field(4, 10, "Issuing authority", "SYNTHETIC REGISTRY", 0.85)
        back.mrz(lines, bottom_mm=2.5)
        return SyntheticDocument("id_card", ident, front.img, back.img, MrzFormat.TD1, lines,
                                 expected=self._expected(MrzFormat.TD1, "ID", ident, lines))

    def us_licence(self, identity: SyntheticIdentity | None = None,
                   *, canadian: bool = False, version: int = 10) -> SyntheticDocument:
        from idproof.verification.document.barcode import pdf417_image

        ident = identity or self.identity("driving_licence")
        rng = self._rng
        state = rng.choice(("ON", "BC", "QC")) if canadian else rng.choice(_US_STATES)
        country = "CAN" if canadian else "USA"
        given = ident.given_names.split()
        elements = {
            "DCA": "C", "DCB": "NONE", "DCD": "NONE",
            "DBA": format_aamva_date(ident.expiry_date, canadian=canadian, version=version),
            "DCS": ident.surname, "DAC": given[0], "DAD": " ".join(given[1:]) or "NONE",
            "DBD": format_aamva_date(ident.issue_date, canadian=canadian, version=version),
            "DBB": format_aamva_date(ident.birth_date, canadian=canadian, version=version),
            "DBC": {"M": "1", "F": "2"}.get(ident.sex, "9"), "DAY": rng.choice(("BRO", "BLU")),
            "DAU": f"{rng.randint(60, 76)} IN", "DAG": f"{rng.randint(1, 999)} SYNTHETIC ST",
            "DAI": ident.place_of_birth.upper(), "DAJ": state,
            "DAK": f"{rng.randint(10000, 99999)}0000  ", "DAQ": ident.document_number,
            "DCF": "".join(rng.choice("0123456789ABCDEF") for _ in range(12)), "DCG": country,
            "DDE": "N", "DDF": "N", "DDG": "N",
        }
        payload = build_aamva(elements, iin="636000", version=version,
                              extra_subfiles={"ZZ": {"ZZA": "SYNTHETIC"}})
        front = _Canvas(MM_CARD, self.ppm, rng)
        front.text(4, 2.5, f"{state} DRIVER LICENSE", 3.0, kind="bold", fill=(30, 40, 100))
        front.paste(_portrait((300, 385), rng), 4, 8, 24, 31)
        front.field(31, 8, "DL", ident.document_number, 0.85)
        front.field(31, 14, "LN", ident.surname, 0.85)
        front.field(31, 20, "FN", ident.given_names, 0.85)
        front.field(31, 26, "DOB", ident.birth_date.strftime("%m/%d/%Y"), 0.85)
        front.field(31, 32, "EXP", ident.expiry_date.strftime("%m/%d/%Y"), 0.85)
        _watermark(front)
        back = _Canvas(MM_CARD, self.ppm, rng)
        code = pdf417_image(payload, scale=2).convert("RGB")
        bw = MM_CARD[0] - 8
        bh = min(MM_CARD[1] - 14, bw * code.height / code.width)
        # Nearest-neighbour keeps the bars crisp, as a printed barcode is.
        back.paste(code, 4, 4, bw, bh, Image.Resampling.NEAREST)
        expected = {"family_name": ident.surname, "given_names": " ".join(given),
                    "birth_date": ident.birth_date, "expiry_date": ident.expiry_date,
                    "sex": ident.sex, "customer_id": ident.document_number, "country": country,
                    "jurisdiction": state, "document_type": "DL"}
        return SyntheticDocument("driving_licence", ident, front.img, back.img,
                                 barcode_payload=payload, expected=expected)

    @staticmethod
    def _expected(fmt: MrzFormat, code: str, ident: SyntheticIdentity,
                  lines: tuple[str, ...]) -> dict[str, object]:
        width = {MrzFormat.TD1: 30, MrzFormat.TD3: 39}[fmt]
        name = encode_name(ident.surname, ident.given_names, width).rstrip("<")
        primary, _, secondary = name.partition("<<")
        return {
            "document_type": str(fmt), "document_code": code,
            "issuing_country": ident.issuing_country, "document_number": ident.document_number,
            "optional_data": ident.optional_data if fmt is MrzFormat.TD1 else "",
            "optional_data_2": "", "surname": primary.replace("<", " ").strip(),
            "given_names": " ".join(p for p in secondary.split("<") if p),
            "nationality": ident.nationality, "birth_date": ident.birth_date, "sex": ident.sex,
            "expiry_date": ident.expiry_date,
            "personal_number": ident.personal_number if fmt is MrzFormat.TD3 else "",
        }
