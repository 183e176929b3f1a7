"""Name normalisation: any script to lower-case Latin tokens, plus phonetic and skeleton keys."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import jellyfish
from anyascii import anyascii

MAX_NAME_CHARS = 300
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_VOWELS = re.compile(r"[aeiouy]")
_DOUBLES = re.compile(r"(.)\1+")
# Honorifics and name particles: they carry no identity and vary between romanisations
# ("al-Rashid", "el Rashid", "Rashid").
STOP_TOKENS = frozenset({
    "mr", "mrs", "ms", "miss", "dr", "prof", "sir", "sheikh", "shaikh", "haji", "hajji",
    "al", "el", "ul", "ad", "ar", "as", "ash", "at", "az", "bin", "ibn", "ben", "bint",
    "binti", "de", "del", "der", "van", "von", "da", "di", "du", "la", "le",
})
# Romanisation variants of the same sound folded before phonetic keys: Russian "dzh"/"j",
# Greek "mp"/"b" and "nt"/"d", Arabic "q"/"k", "kh"/"h", "gh"/"g", "ph"/"f", "ou"/"u",
# "dh"/"z", "th"/"t", Russian "-iy"/"-y", "ie"/"i", "j"/"dj", Greek "tz"/"j".
_FOLDS = (("dzh", "j"), ("mp", "b"), ("nt", "d"), ("sch", "sh"), ("kh", "h"), ("gh", "g"),
          ("ch", "h"), ("ph", "f"), ("ou", "u"), ("oy", "u"), ("dh", "z"), ("dj", "j"),
          ("q", "k"), ("iy", "i"), ("yi", "i"), ("ie", "i"), ("ee", "i"), ("w", "v"),
          ("ck", "k"), ("c", "k"), ("x", "ks"), ("th", "t"), ("tz", "j"))
# Abjads (Arabic) have no p and no v: a romanised name brings them back as b and f.
_ABJAD = str.maketrans({"p": "b", "v": "f"})


def has_control_chars(text: str) -> bool:
    """Whether `text` holds control or format characters (other than ordinary spaces)."""
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") and ch not in " "
               for ch in text)


def clean(text: str) -> str:
    """NFKC, control and format characters replaced by spaces, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in text)
    return " ".join(text.split())


@lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """Lower-case ASCII words: 'Владимир  Müller-Lüdenscheidt' -> 'vladimir muller ludenscheidt'."""
    latin = anyascii(clean(text)).lower()
    return " ".join(_NON_ALNUM.sub(" ", latin).split())


def tokens(text: str) -> tuple[str, ...]:
    """The words of a normalised name without honorifics and particles (all of them if the
    name has nothing else)."""
    words = normalize(text).split()
    kept = tuple(w for w in words if w not in STOP_TOKENS)
    return kept or tuple(words)


@lru_cache(maxsize=262144)
def fold(token: str) -> str:
    """A token with common romanisation variants folded ('khadafi' -> 'hadafi')."""
    for _ in range(2):  # twice: "kch" -> "kh" -> "h"
        for a, b in _FOLDS:
            token = token.replace(a, b)
    return token


@lru_cache(maxsize=262144)
def phonetic(token: str) -> str:
    """Metaphone of the folded token ('mohammed', 'muhammad' -> 'MHMT')."""
    if token.isdigit():
        return token
    return jellyfish.metaphone(fold(token)) or token


@lru_cache(maxsize=262144)
def skeleton(token: str) -> str:
    """Consonants only, doubles collapsed: what abjad scripts (Arabic, Hebrew) transliterate
    to, leaving out short and initial vowels ('muhammad', 'محمد' -> 'mhmd')."""
    folded = fold(token)
    if not folded:
        return ""
    return _DOUBLES.sub(r"\1", _VOWELS.sub("", folded).translate(_ABJAD))


@lru_cache(maxsize=262144)
def vowelless(token: str) -> bool:
    """Whether a token looks transliterated from an abjad (no vowel written)."""
    return len(token) >= 2 and not any(v in token for v in "aeiou")


def block_keys(token: str) -> set[str]:
    """The keys a token is indexed under: itself, its phonetic key, its skeleton."""
    keys = {"t:" + token}
    if len(token) > 1:
        keys.add("p:" + phonetic(token))
        sk = skeleton(token)
        if len(sk) >= 2 or (sk and vowelless(token)):
            keys.add("s:" + sk)
        if vowelless(token) and token.startswith("l") and len(token) >= 4:
            keys.add("s:" + skeleton(token[1:]))  # the joined Arabic article: "lrshd"
    return keys
