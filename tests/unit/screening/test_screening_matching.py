"""Name normalisation and matching: scripts, order, initials, middle names, dates, evaluation."""

from __future__ import annotations

from datetime import date

import pytest

from idproof.screening.matching import ListEntry, Query, ScreeningIndex, name_similarity
from idproof.screening.normalize import normalize, tokens
from tests.screening_eval import EVAL_SEED, build, evaluate

ENTRIES = [
    ListEntry("ofac", "1", "person", ("John Michael SMITH", "Jon Smyth"), ("1961-03-04",),
              ("gb",), "male"),
    ListEntry("un", "2", "person", ("Muhammad al-Rashid", "محمد الرشيد"), ("1970",)),
    ListEntry("eu", "3", "person", ("Vladimir Petrovich Kuznetsovsky",), ("1955-01-02",)),
    ListEntry("eu", "4", "person", ("Anna Petrova",), ("1980-05-05",), gender="female"),
    ListEntry("eu", "5", "person", ("Georgios Papadakis",)),
    ListEntry("uk", "6", "entity", ("Northwind Maritime Trading LLC",)),
]


@pytest.fixture(scope="module")
def index() -> ScreeningIndex:
    return ScreeningIndex(ENTRIES)


def top(index: ScreeningIndex, name: str, **kw: object) -> tuple[str, float] | None:
    hits = index.search(Query(name, **kw), threshold=0.85)  # type: ignore[arg-type]
    return (hits[0].entry_id, hits[0].score) if hits else None


def test_normalize_any_script_and_controls() -> None:
    assert normalize("Владимир\u200b Müller-Lüdenscheidt\x00") == \
        "vladimir muller ludenscheidt"
    assert tokens("Mr. Muhammad al-Rashid") == ("muhammad", "rashid")
    assert normalize("\u202e\u0000") == ""


@pytest.mark.parametrize("name", ["Smith John", "SMITH, John Michael", "J. Smith",
                                  "Jon Smith", "John Smyth", "Jhon Smith", "Джон Смит"])
def test_variants_of_a_listed_person(index: ScreeningIndex, name: str) -> None:
    hit = top(index, name)
    assert hit is not None and hit[0] == "1"


@pytest.mark.parametrize("name", ["Mohammed Rashid", "Mohamed al Rashid", "محمد الرشيد",
                                  "Muhammad El-Rashid"])
def test_arabic_romanisations(index: ScreeningIndex, name: str) -> None:
    hit = top(index, name)
    assert hit is not None and hit[0] == "2"


def test_greek_and_cyrillic(index: ScreeningIndex) -> None:
    assert top(index, "Γεώργιος Παπαδάκης") is not None
    assert top(index, "Владимир Кузнецовский") is not None  # missing middle name


def test_near_misses_are_not_hits(index: ScreeningIndex) -> None:
    assert top(index, "Olga Petrova") is None
    assert top(index, "Smith") is None
    assert top(index, "John Brown") is None


def test_birth_date_boosts_and_cuts(index: ScreeningIndex) -> None:
    same = index.search(Query("Jon Smith", birth_date=date(1961, 3, 4)))[0]
    other = index.search(Query("Jon Smith", birth_date=date(1990, 1, 1)))[0]
    assert same.score > other.score
    assert "birth date matches" in same.explanation
    assert "birth date differs" in other.explanation
    assert top(index, "Jon Smith", birth_date=date(1990, 1, 1)) is None


def test_gender_and_nationality(index: ScreeningIndex) -> None:
    base = index.search(Query("Anna Petrova"))[0].score
    assert index.search(Query("Anna Petrova", gender="male"))[0].score < base
    nat = index.search(Query("Jon Smith", country="gb"))[0]
    assert "nationality matches" in nat.explanation


def test_persons_only_skips_entities(index: ScreeningIndex) -> None:
    assert top(index, "Northwind Maritime Trading") is not None
    assert index.search(Query("Northwind Maritime Trading", persons_only=True),
                        threshold=0.85) == []


def test_hit_names_the_alias_and_explains() -> None:
    score, why = name_similarity(("jon", "smith"), ("jon", "smyth"))
    assert score > 0.9 and "smyth (phonetic)" in why


def test_held_out_evaluation_set_meets_targets() -> None:
    entries, queries = build(EVAL_SEED, size=2000, positives=400, negatives=400)
    figures = evaluate(ScreeningIndex(entries), queries, 0.85)
    assert figures.recall >= 0.95, figures.misses[:10]
    assert figures.precision >= 0.90, figures.false_hits[:10]
