"""A labelled evaluation set for name screening: synthetic list entries and queries (spelling
variants, transliterations, reordered names, initials, missing middle names, near misses of
other people), generated from a seed. No real person's data."""
# ruff: noqa: RUF001 - the tables map Latin letters to Cyrillic, Greek and Arabic ones.

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from idproof.screening.matching import ListEntry

# The held-out set: built with this seed only, never used to tune the matcher (tuning used
# DEV_SEED and the sample list files).
EVAL_SEED = 20260314
DEV_SEED = 7

_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "sh", "kh",
           "br", "dr", "gr", "kr", "st", "tr", "ch", "zh", "h", "j", "y", "ts"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ei", "ou", "ia"]
_CODAS = ["", "", "", "n", "r", "s", "l", "m", "k", "v", "t", "sk", "nd", "rt"]
_SUFFIXES = ["ov", "ova", "enko", "idis", "opoulos", "escu", "ic", "ski", "berg", "mann",
             "son", "ez", "ani", "oglu", "ari", "ez", "ner", "ley", "ton", "an", "in", "el"]
_FIRST = {
    "male": ["Alexander", "Mikhail", "Sergei", "Dmitri", "Nikolai", "Andrei", "Yuri", "Pavel",
             "Muhammad", "Ahmed", "Omar", "Khalid", "Hassan", "Yusuf", "Karim", "Tariq",
             "Georgios", "Konstantinos", "Dimitrios", "Nikos", "John", "Michael", "Peter",
             "Thomas", "Carlos", "Luis", "Jose", "Marco", "Stefan", "Jan", "Lukas", "Emeka",
             "Chinedu", "Wei", "Hiroshi", "Rahul", "Arjun", "Ivan", "Oleg", "Viktor"],
    "female": ["Anna", "Elena", "Olga", "Natalia", "Irina", "Svetlana", "Tatiana", "Maria",
               "Fatima", "Aisha", "Layla", "Mariam", "Noor", "Zainab", "Salma", "Huda",
               "Eleni", "Sofia", "Katerina", "Despina", "Sarah", "Emma", "Laura", "Julia",
               "Ana", "Lucia", "Carmen", "Ines", "Petra", "Eva", "Ngozi", "Adaeze", "Mei",
               "Yuki", "Priya", "Anjali", "Daria", "Ksenia", "Vera", "Alina"],
}
_COUNTRIES = ["ru", "ua", "by", "sy", "ir", "iq", "ye", "lb", "gr", "cy", "ng", "gb", "us",
              "de", "fr", "es", "it", "pl", "cn", "jp", "in", "kp", "ve", "ae"]
# Spelling variants of the same first name across romanisations.
_VARIANTS = {
    "Muhammad": ["Mohammed", "Mohamed", "Muhammed", "Mohammad"], "Ahmed": ["Ahmad", "Akhmed"],
    "Yusuf": ["Yousef", "Youssef", "Yousuf"], "Khalid": ["Khaled", "Halid"],
    "Hassan": ["Hasan"], "Omar": ["Umar"], "Tariq": ["Tarik", "Tareq"],
    "Karim": ["Kareem"], "Sergei": ["Sergey", "Serguei"], "Dmitri": ["Dmitry", "Dmitriy"],
    "Yuri": ["Yuriy", "Iouri", "Jurij"], "Alexander": ["Aleksandr", "Alexandre"],
    "Nikolai": ["Nikolay", "Nicolai"], "Andrei": ["Andrey"], "Mikhail": ["Mikhael", "Michail"],
    "Natalia": ["Natalya", "Nataliya"], "Tatiana": ["Tatyana", "Tatjana"],
    "Fatima": ["Fatimah", "Fatma"], "Aisha": ["Aysha", "Ayesha"], "Layla": ["Leila", "Laila"],
    "Mariam": ["Maryam", "Miriam"], "Zainab": ["Zaynab", "Zeinab"], "Olga": ["Olha"],
    "Georgios": ["Giorgos", "Yiorgos"], "Konstantinos": ["Constantinos", "Kostantinos"],
    "Dimitrios": ["Demetrios"], "Ksenia": ["Kseniya", "Xenia"], "Daria": ["Darya"],
}
_CYRILLIC = [("shch", "щ"), ("zh", "ж"), ("kh", "х"), ("ts", "ц"), ("ch", "ч"), ("sh", "ш"),
             ("ya", "я"), ("yu", "ю"), ("a", "а"), ("b", "б"), ("v", "в"), ("g", "г"),
             ("d", "д"), ("e", "е"), ("z", "з"), ("i", "и"), ("y", "й"), ("k", "к"),
             ("l", "л"), ("m", "м"), ("n", "н"), ("o", "о"), ("p", "п"), ("r", "р"),
             ("s", "с"), ("t", "т"), ("u", "у"), ("f", "ф"), ("h", "х"), ("c", "к"),
             ("j", "дж"), ("q", "к"), ("w", "в"), ("x", "кс")]
_GREEK = [("ou", "ου"), ("th", "θ"), ("ch", "χ"), ("ps", "ψ"), ("ks", "ξ"), ("a", "α"),
          ("b", "μπ"), ("v", "β"), ("g", "γ"), ("d", "ντ"), ("e", "ε"), ("z", "ζ"),
          ("i", "ι"), ("k", "κ"), ("l", "λ"), ("m", "μ"), ("n", "ν"), ("o", "ο"), ("p", "π"),
          ("r", "ρ"), ("s", "σ"), ("t", "τ"), ("u", "ου"), ("f", "φ"), ("h", "χ"),
          ("y", "υ"), ("j", "τζ"), ("c", "κ"), ("x", "ξ"), ("w", "β"), ("q", "κ")]
_ARABIC = [("sh", "ش"), ("kh", "خ"), ("th", "ث"), ("dh", "ذ"), ("b", "ب"), ("t", "ت"),
           ("j", "ج"), ("h", "ح"), ("d", "د"), ("r", "ر"), ("z", "ز"), ("s", "س"),
           ("f", "ف"), ("q", "ق"), ("k", "ك"), ("l", "ل"), ("m", "م"), ("n", "ن"),
           ("w", "و"), ("y", "ي"), ("g", "غ"), ("v", "ف"), ("p", "ب"), ("c", "ك"),
           ("x", "كس"), ("ii", "ي"), ("uu", "و"), ("aa", "ا")]


def _script(word: str, table: list[tuple[str, str]], drop_vowels: bool = False) -> str:
    w, out, i = word.lower(), [], 0
    while i < len(w):
        for latin, native in table:
            if w.startswith(latin, i):
                out.append(native)
                i += len(latin)
                break
        else:
            if not (drop_vowels and w[i] in "aeiou" and i > 0):
                out.append("ا" if drop_vowels and w[i] in "aeiou" else w[i])
            i += 1
    return "".join(out)


def to_cyrillic(name: str) -> str:
    return " ".join(_script(w, _CYRILLIC) for w in name.split())


def to_greek(name: str) -> str:
    return " ".join(_script(w, _GREEK) for w in name.split())


def to_arabic(name: str) -> str:
    return " ".join(_script(w, _ARABIC, drop_vowels=True) for w in name.split())


def surname(rng: random.Random) -> str:
    parts = [rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
             for _ in range(rng.choice((1, 2, 2)))]
    return ("".join(parts) + rng.choice(_SUFFIXES)).capitalize()


def typo(rng: random.Random, word: str) -> str:
    """One edit: a swapped, dropped, doubled or replaced letter (not the first)."""
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.choice(("swap", "drop", "double", "replace"))
    if op == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == "drop":
        return word[:i] + word[i + 1:]
    if op == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice("aeiou" if word[i] in "aeiou" else "bdgklmnprst") + \
        word[i + 1:]


@dataclass(frozen=True)
class EvalQuery:
    name: str
    birth_date: date | None
    country: str | None
    expected: str | None  # the entry id it must find; None: no entry is this person
    kind: str


@dataclass(frozen=True)
class Person:
    entry: ListEntry
    first: str
    middle: str | None
    last: str
    dob: date
    country: str
    gender: str


def make_person(rng: random.Random, entry_id: str, source: str = "eval") -> Person:
    gender = rng.choice(("male", "female"))
    first = rng.choice(_FIRST[gender])
    middle = rng.choice(_FIRST[gender]) if rng.random() < 0.35 else None
    last = surname(rng)
    dob = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 60 * 365))
    country = rng.choice(_COUNTRIES)
    full = " ".join(x for x in (first, middle, last) if x)
    names = [full]
    if rng.random() < 0.3:
        names.append(to_cyrillic(full) if rng.random() < 0.5 else f"{last.upper()}, {first}")
    dob_text = dob.isoformat() if rng.random() < 0.8 else str(dob.year)
    entry = ListEntry(source=source, entry_id=entry_id, kind="person", names=tuple(names),
                      birth_dates=(dob_text,), countries=(country,), gender=gender,
                      topics=("sanction",))
    return Person(entry, first, middle, last, dob, country, gender)


def _variant(rng: random.Random, p: Person) -> tuple[str, str]:
    first = p.first
    kind = rng.choice(("exact", "typo", "reorder", "initial", "no_middle", "cyrillic",
                       "greek", "arabic", "variant", "case", "typo_reorder"))
    middle = p.middle
    if kind == "variant" and first in _VARIANTS:
        first = rng.choice(_VARIANTS[first])
    elif kind == "variant":
        kind = "typo"
    if kind == "no_middle":
        middle = None
    base = " ".join(x for x in (first, middle, p.last) if x)
    if kind == "typo":
        return rng.choice([f"{first} {typo(rng, p.last)}" if not middle
                           else f"{first} {middle} {typo(rng, p.last)}",
                           f"{typo(rng, first)} {p.last}"]), kind
    if kind == "reorder":
        return f"{p.last} {first}" + (f" {middle}" if middle else ""), kind
    if kind == "typo_reorder":
        return f"{typo(rng, p.last)}, {first}", kind
    if kind == "initial":
        return f"{first[0]}. {p.last}", kind
    if kind == "cyrillic":
        return to_cyrillic(base), kind
    if kind == "greek":
        return to_greek(base), kind
    if kind == "arabic":
        return to_arabic(base), kind
    if kind == "case":
        return base.upper(), kind
    return base, kind


def build(seed: int = EVAL_SEED, size: int = 5000, positives: int = 1000,
          negatives: int = 1000) -> tuple[list[ListEntry], list[EvalQuery]]:
    """A list of `size` people and labelled queries: `positives` variants of listed people
    (with their birth date, no birth date, or a year-only list date) and `negatives` people
    who are not listed (a listed surname with another first name and birth date, a listed
    first name with another surname, or someone else entirely)."""
    rng = random.Random(seed)
    people = [make_person(rng, f"E{i:06d}") for i in range(size)]
    listed = {(p.first, p.last) for p in people}
    queries: list[EvalQuery] = []
    for _ in range(positives):
        p = rng.choice(people)
        name, kind = _variant(rng, p)
        dob = p.dob if rng.random() < 0.7 else None
        country = p.country if rng.random() < 0.5 else None
        queries.append(EvalQuery(name, dob, country, p.entry.entry_id, kind))
    while len(queries) < positives + negatives:
        p = rng.choice(people)
        other = make_person(rng, "x")
        style = rng.choice(("same_last", "same_first", "stranger"))
        if style == "same_last":
            first, last = other.first, p.last
        elif style == "same_first":
            first, last = p.first, other.last
        else:
            first, last = other.first, other.last
        if (first, last) in listed:
            continue
        dob = other.dob if rng.random() < 0.8 else None
        queries.append(EvalQuery(f"{first} {last}", dob, other.country if rng.random() < 0.5
                                 else None, None, f"near_miss_{style}"))
    return [p.entry for p in people], queries


@dataclass
class Figures:
    recall: float
    precision: float
    found: int
    positives: int
    true_hits: int
    hits: int
    misses: list[EvalQuery]
    false_hits: list[tuple[EvalQuery, str, float, str]]


def evaluate(search: object, queries: list[EvalQuery], threshold: float) -> Figures:
    """Recall: positive queries whose entry is among the hits. Precision: hits that are the
    expected entry, over all hits returned (for positive and negative queries)."""
    from idproof.screening.matching import Query, ScreeningIndex

    assert isinstance(search, ScreeningIndex)
    found = true_hits = hits = positives = 0
    misses: list[EvalQuery] = []
    false_hits: list[tuple[EvalQuery, str, float, str]] = []
    for q in queries:
        result = search.search(Query(q.name, q.birth_date, q.country), threshold)
        hits += len(result)
        ok = [h for h in result if h.entry_id == q.expected]
        true_hits += len(ok)
        false_hits += [(q, h.name, h.score, h.explanation) for h in result
                       if h.entry_id != q.expected]
        if q.expected is not None:
            positives += 1
            if ok:
                found += 1
            else:
                misses.append(q)
    return Figures(recall=found / positives if positives else 1.0,
                   precision=true_hits / hits if hits else 1.0, found=found,
                   positives=positives, true_hits=true_hits, hits=hits, misses=misses,
                   false_hits=false_hits)
