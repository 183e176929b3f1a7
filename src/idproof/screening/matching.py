"""Name matching: an in-memory blocking index over one list snapshot, and explained scores."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA, Levenshtein

from idproof.screening.normalize import block_keys, phonetic, skeleton, tokens, vowelless

DEFAULT_THRESHOLD = 0.85
# Keys shared by more names than this are skipped when the query has rarer keys: they would
# make every "john" a candidate for every "john ..." query without adding recall.
_COMMON_KEY = 20_000
_CANDIDATES = 2000  # names sharing the most keys with the query
_BY_KEYS = 20  # of which the best by shared keys are scored in full,
_BY_TEXT = 30  # and the best by a fast whole-name comparison (rapidfuzz, in C)
_MATCH = 0.5  # token pairs scoring below this are not a match


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One designated person or entity as a list publishes it (names in their own script).

    `birth_dates` are ISO dates, possibly partial ('1961', '1961-03', '1961-03-04');
    `countries` are ISO 3166 alpha-2 codes in lower case; `gender` 'male', 'female' or None.
    """

    source: str
    entry_id: str
    kind: str  # person, entity, vessel, aircraft, unknown
    names: tuple[str, ...]
    birth_dates: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    gender: str | None = None
    topics: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    birth_date: date | None = None
    country: str | None = None  # ISO alpha-2, lower case
    gender: str | None = None
    persons_only: bool = False


@dataclass(frozen=True, slots=True)
class Hit:
    score: float
    source: str
    entry_id: str
    name: str
    explanation: str
    topics: tuple[str, ...] = field(default=())


# -- scoring (pure) ---------------------------------------------------------------------------

@lru_cache(maxsize=1 << 18)
def token_similarity(a: str, b: str) -> tuple[float, str]:
    """How alike two normalised tokens are, and how ('exact', 'initial', 'phonetic', ...)."""
    if a == b:
        return 1.0, "exact"
    if len(a) == 1 or len(b) == 1:
        return (0.9, "initial") if a[0] == b[0] else (0.0, "")
    best, how = OSA.normalized_similarity(a, b), "spelling"
    if best < 0.92 and min(len(a), len(b)) >= 3:
        if phonetic(a) == phonetic(b):
            best, how = 0.92, "phonetic"
        elif skeleton(a) == skeleton(b) and (len(skeleton(a)) >= 3 or vowelless(a)
                                               or vowelless(b)):
            best, how = 0.9, "transliteration"
    elif best < 0.88 and (vowelless(a) or vowelless(b)) and skeleton(a) == skeleton(b):
        best, how = 0.88, "transliteration"
    if best < 0.88:
        for x, y in ((a, b), (b, a)):  # the Arabic article joined to the name: "lrshyd"
            if vowelless(x) and x.startswith("l") and len(x) >= 4 and \
                    skeleton(x[1:]) == skeleton(y):
                best, how = 0.88, "transliteration"
    return best, how


def _weight(a: str, b: str) -> float:
    return 2.0 if min(len(a), len(b)) == 1 else float(max(len(a), len(b)))


def name_similarity(query: Sequence[str], candidate: Sequence[str]) -> tuple[float, str]:
    """Order-independent similarity of two token lists with initials and missing middle
    names, and what matched."""
    if not query or not candidate:
        return 0.0, ""
    pairs = sorted(((*token_similarity(q, c), i, j) for i, q in enumerate(query)
                    for j, c in enumerate(candidate)), reverse=True)
    used_q: set[int] = set()
    used_c: set[int] = set()
    num = den = 0.0
    worst = 1.0
    notes: list[str] = []
    for sim, how, i, j in pairs:
        if sim < _MATCH or i in used_q or j in used_c:
            continue
        used_q.add(i)
        used_c.add(j)
        w = _weight(query[i], candidate[j])
        num += sim * w
        den += w
        worst = min(worst, sim)
        notes.append(f"{candidate[j]} ({how})")
    for i, q in enumerate(query):
        if i not in used_q:
            den += len(q)
            worst = 0.0
    missing = [c for j, c in enumerate(candidate) if j not in used_c]
    for c in missing:
        den += 0.1 * len(c) if len(used_q) >= 2 else len(c)
    # Every word must match well: one weak word (another surname) weighs more than its length.
    score = 0.6 * (num / den) + 0.4 * worst if den else 0.0
    # One matched word is not a name match ("smith" is not "john smith").
    if len(used_q) < min(2, len(candidate), len(query)) or \
            (len(used_q) == 1 and len(candidate) > 1):
        score *= 0.6
    # Split or joined words: "abdul rahman" against "abdulrahman".
    joined = Levenshtein.normalized_similarity("".join(query), "".join(candidate))
    if joined > score and len(query) != len(candidate):
        return joined, f"{' '.join(candidate)} (joined words)"
    why = ", ".join(notes)
    if missing and len(used_q) >= 2:
        why += f"; not in the query: {len(missing)} more name(s)"
    return score, why


def _dob_parts(value: str) -> tuple[int, int | None, int | None] | None:
    parts = value.split("-")
    try:
        year = int(parts[0])
        month = int(parts[1]) if len(parts) > 1 else None
        day = int(parts[2]) if len(parts) > 2 else None
    except ValueError:
        return None
    return year, month, day


def birth_date_adjustment(query: date | None, entry: Sequence[str]) -> tuple[float, str]:
    """Boost for a matching birth date, cut for a different one; nothing when unknown."""
    if query is None or not entry:
        return 0.0, ""
    best = (-0.25, "birth date differs")
    for value in entry:
        parts = _dob_parts(value)
        if parts is None:
            continue
        year, month, day = parts
        if year == query.year:
            if month is None:
                cand = (0.03, "birth year matches")
            elif month == query.month and (day is None or day == query.day):
                cand = (0.05, "birth date matches")
            else:
                cand = (-0.05, "birth year matches, day or month differs")
        elif abs(year - query.year) <= 1:
            cand = (-0.08, "birth year differs by one")
        else:
            continue
        if cand[0] > best[0]:
            best = cand
    return best


def adjust(score: float, query: Query, entry: ListEntry) -> tuple[float, list[str]]:
    """Apply birth date, nationality and gender to a name score."""
    notes: list[str] = []
    delta, why = birth_date_adjustment(query.birth_date, entry.birth_dates)
    if why:
        notes.append(why)
    if query.country and entry.countries:
        if query.country in entry.countries:
            delta += 0.02
            notes.append("nationality matches")
        else:
            delta -= 0.05
            notes.append("nationality differs")
    if query.gender and entry.gender and query.gender != entry.gender:
        delta -= 0.15
        notes.append("gender differs")
    return min(1.0, max(0.0, score + delta)), notes


# -- the index --------------------------------------------------------------------------------

class ScreeningIndex:
    """Names of one snapshot, indexed by token, phonetic key and consonant skeleton.

    Built once per active snapshot and never changed afterwards: a search holds a reference
    to one index, so an import that activates a new snapshot never mixes two lists.
    """

    def __init__(self, entries: Iterable[ListEntry]) -> None:
        self.entries: list[ListEntry] = []
        self._name_entry = array("i")
        self._names: list[str] = []
        self._tokens: list[tuple[str, ...]] = []
        self._joined: list[str] = []
        building: dict[str, array[int]] = {}
        for entry in entries:
            e = len(self.entries)
            self.entries.append(entry)
            seen: set[tuple[str, ...]] = set()
            for display in entry.names:
                toks = tokens(display)
                if not toks or toks in seen:
                    continue
                seen.add(toks)
                n = len(self._names)
                self._names.append(display)
                self._tokens.append(toks)
                self._joined.append(" ".join(toks))
                self._name_entry.append(e)
                keys: set[str] = set()
                for tok in toks:
                    keys |= block_keys(tok)
                for key in keys:
                    arr = building.get(key)
                    if arr is None:
                        arr = building[key] = array("i")
                    arr.append(n)
        self._postings = {k: np.frombuffer(v, dtype=np.int32) for k, v in building.items()}

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def name_count(self) -> int:
        return len(self._names)

    def _candidates(self, toks: Sequence[str]) -> np.ndarray:
        keys: set[str] = set()
        for tok in toks:
            keys |= block_keys(tok)
        lists = sorted((self._postings[k] for k in keys if k in self._postings), key=len)
        if not lists:
            return np.empty(0, dtype=np.int32)
        chosen = [p for p in lists if len(p) <= _COMMON_KEY] or lists[:1]
        joined = np.concatenate(chosen)
        ids, counts = np.unique(joined, return_counts=True)
        if len(ids) > _CANDIDATES:
            top = np.argpartition(-counts, _CANDIDATES)[:_CANDIDATES]
            ids, counts = ids[top], counts[top]
        if len(ids) <= _BY_KEYS + _BY_TEXT:
            return ids
        by_keys = ids[np.argpartition(-counts, _BY_KEYS)[:_BY_KEYS]]
        texts = [self._joined[n] for n in ids.tolist()]
        found = process.extract(" ".join(toks), texts, scorer=fuzz.token_set_ratio,
                                limit=_BY_TEXT)
        by_text = ids[[i for _, _, i in found]]
        return np.union1d(by_keys, by_text)

    def search(self, query: Query, threshold: float = 0.0, limit: int = 20) -> list[Hit]:
        """Hits at or above `threshold`, best first, one per entry (its best-matching name)."""
        toks = tokens(query.name)
        if not toks:
            return []
        best: dict[int, tuple[float, int, str]] = {}
        for n in self._candidates(toks).tolist():
            e = self._name_entry[n]
            entry = self.entries[e]
            if query.persons_only and entry.kind not in ("person", "unknown"):
                continue
            score, why = name_similarity(toks, self._tokens[n])
            if score < threshold - 0.1:  # adjustments add at most 0.07
                continue
            final, notes = adjust(score, query, entry)
            if final < threshold:
                continue
            label = "name" if self.entries[e].names[0] == self._names[n] else "alias"
            explanation = f"{label} score {score:.2f}: {why}"
            if notes:
                explanation += "; " + "; ".join(notes)
            if e not in best or final > best[e][0]:
                best[e] = (final, n, explanation)
        ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], self.entries[kv[0]].entry_id))
        hits = []
        for e, (score, n, explanation) in ranked[:limit]:
            entry = self.entries[e]
            hits.append(Hit(score=round(score, 4), source=entry.source, entry_id=entry.entry_id,
                            name=self._names[n], explanation=explanation,
                            topics=entry.topics))
        return hits
