"""Streaming log verification: recompute the tree from the events, find the first bad index."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from idproof.audit.leaf import event_leaf_hash
from idproof.audit.merkle import EMPTY_ROOT, HASH_SIZE, node_hash

# One stored event as the verifier sees it: its index, the fields its leaf commits to (read back
# from the database, never taken from the stored hash) and the leaf hash stored beside them.
EventRecord = tuple[int, dict[str, Any], bytes]
# The stored nodes of one level, in index order: (index, hash).
NodeStream = Callable[[int], Iterator[tuple[int, bytes]]]


@dataclass(frozen=True, slots=True)
class Finding:
    """Where the log stops being what was signed and appended.

    `index` is the first bad event when `end` is None. When only signed roots bear witness (every
    unsigned table rewritten consistently), the change is known to lie in [index, end): no
    stored data says where exactly, and `index` is the earliest it can be.
    """

    index: int
    message: str
    end: int | None = None

    @property
    def exact(self) -> bool:
        return self.end is None

    def describe(self) -> str:
        where = f"index {self.index}"
        if self.end is not None:
            where += f" (somewhere in {self.index}..{self.end - 1})"
        return f"first bad {where}: {self.message}"


@dataclass(frozen=True, slots=True)
class SignedRoot:
    """A tree head whose signature was already checked: a stored or a witness checkpoint."""

    label: str
    size: int
    root: bytes
    witness: bool = False  # kept outside the database (not one of the stored checkpoints)


@dataclass(slots=True)
class StreamResult:
    """What one pass over the events established."""

    size: int = 0  # events read before the pass ended (all of them when there is no finding)
    root: bytes = EMPTY_ROOT
    finding: Finding | None = None
    matched: list[SignedRoot] = field(default_factory=list)  # signed roots the events reproduce


class _Stop(Exception):
    def __init__(self, finding: Finding) -> None:
        self.finding = finding


def _fold(stack: Sequence[bytes]) -> bytes:
    acc = stack[-1]
    for h in reversed(stack[:-1]):
        acc = node_hash(h, acc)
    return acc


class _StoredNodes:
    """The stored nodes, one cursor per level, consumed in step with their recomputation."""

    def __init__(self, streams: NodeStream) -> None:
        self._streams = streams
        self._levels: list[Iterator[tuple[int, bytes]]] = []

    def check(self, level: int, index: int, computed: bytes) -> None:
        while len(self._levels) <= level:
            self._levels.append(self._streams(len(self._levels)))
        first, end = index << level, (index + 1) << level
        got = next(self._levels[level], None)
        if got is None or got[0] != index:
            raise _Stop(Finding(first, f"the stored node ({level}, {index}) over events "
                                       f"{first}..{end - 1} is missing", None if level == 0
                                else end))
        if not hmac.compare_digest(got[1], computed):
            if level == 0:
                raise _Stop(Finding(index, f"event {index} is not the event appended at this "
                                           "position (edited, inserted or reordered)"))
            raise _Stop(Finding(first, f"the stored node ({level}, {index}) over events "
                                       f"{first}..{end - 1} does not match them", end))

    def leftover(self, size: int, levels: int) -> None:
        """After the last event: no level may hold more nodes than `size` events make."""
        for level in range(levels):
            while len(self._levels) <= level:
                self._levels.append(self._streams(len(self._levels)))
            extra = next(self._levels[level], None)
            if extra is not None:
                raise _Stop(Finding(size, f"stored nodes cover events after the last one "
                                          f"({size - 1}): events from index {size} were removed"))


def verify_events(
    events: Iterable[EventRecord],
    *,
    head_size: int,
    stored_nodes: NodeStream,
    node_levels: int,
    signed: Sequence[SignedRoot] = (),
    progress: Callable[[int], None] | None = None,
    progress_every: int = 10_000,
) -> StreamResult:
    """One pass over the events in index order, in O(log n) memory.

    Every event's leaf is recomputed from its fields and compared with the stored leaf hash, each
    node it completes with the stored node, and the root at each signed size with the signed
    root. The pass stops at the first disagreement, which is then the first bad index (or, when
    only a signed root disagrees, the earliest index the change can be at).
    """
    result = StreamResult()
    nodes = _StoredNodes(stored_nodes)
    targets = sorted(signed, key=lambda s: s.size)
    t = 0
    # The largest size whose signed root the events reproduced: a later mismatch lies after it.
    floor = 0
    while t < len(targets) and targets[t].size == 0:
        _match_root(targets[t], EMPTY_ROOT, 0, floor, result)
        t += 1
    stack: list[bytes] = []
    expected = 0
    iterator = iter(events)
    try:
        while True:
            try:
                record = next(iterator, None)
            except Exception as exc:  # an attacker can store what the driver cannot decode
                raise _Stop(Finding(expected, f"event {expected} cannot be read back "
                                              f"({type(exc).__name__})")) from None
            if record is None:
                break
            index, leaf = _checked_leaf(record, expected, head_size)
            # Append to the right edge, checking each node this leaf completes.
            _push(stack, nodes, index, leaf)
            expected = index + 1
            result.size = expected
            while t < len(targets) and targets[t].size == expected:
                floor = _match_root(targets[t], _fold(stack), expected, floor, result)
                t += 1
            if progress is not None and expected % progress_every == 0:
                progress(expected)
        n = expected
        result.root = _fold(stack) if stack else EMPTY_ROOT
        _check_end(n, head_size, targets[t:], floor)
        nodes.leftover(n, node_levels)
    except _Stop as stop:
        result.finding = stop.finding
    if progress is not None:
        progress(result.size)
    return result


def _push(stack: list[bytes], nodes: _StoredNodes, index: int, leaf: bytes) -> None:
    """Append leaf `index` to the right edge, checking each node it completes."""
    nodes.check(0, index, leaf)
    acc, i, level = leaf, index, 0
    while i & 1:
        acc = node_hash(stack.pop(), acc)
        i >>= 1
        level += 1
        nodes.check(level, i, acc)
    stack.append(acc)


def _checked_leaf(record: EventRecord, expected: int, head_size: int) -> tuple[int, bytes]:
    """The record's index and recomputed leaf hash, once it is where it should be and its
    fields hash to its stored leaf hash."""
    index, fields, stored_leaf = record
    if index != expected:
        if index > expected:
            raise _Stop(Finding(expected, f"event {expected} is missing (the next "
                                          f"stored event has index {index})"))
        raise _Stop(Finding(index, f"index {index} is stored more than once"))
    if index >= head_size:
        raise _Stop(Finding(index, f"event {index} lies beyond the tree head "
                                   f"({head_size} events): added outside the log"))
    try:
        leaf = event_leaf_hash(fields)
    except (TypeError, ValueError):
        raise _Stop(Finding(index, f"event {index} holds fields that cannot be "
                                   "encoded as canonical JSON")) from None
    if not isinstance(stored_leaf, bytes) or len(stored_leaf) != HASH_SIZE or \
            not hmac.compare_digest(leaf, stored_leaf):
        raise _Stop(Finding(index, f"event {index} was altered: its fields do not "
                                   "hash to its stored leaf hash"))
    return index, leaf


def _check_end(n: int, head_size: int, unreached: Sequence[SignedRoot], floor: int) -> None:
    """After the last event: the head and every signed size must have been reached."""
    ends: list[Finding] = []
    if n < head_size:
        ends.append(Finding(n, f"the tree head counts {head_size} events but only {n} are "
                               f"stored: events from index {n} were removed"))
    if unreached:  # a signed size the log no longer reaches
        target = unreached[0]
        ends.append(Finding(floor, f"the {target.label} covers {target.size} events but "
                                   f"the log has {n}: events were removed", target.size))
    if ends:  # the earliest index either allows; an exact one wins a tie
        raise _Stop(min(ends, key=lambda f: (f.index, not f.exact)))


def _match_root(target: SignedRoot, root: bytes, size: int, floor: int,
                result: StreamResult) -> int:
    if not hmac.compare_digest(root, target.root):
        raise _Stop(Finding(floor, f"the events do not reproduce the root signed in the "
                                   f"{target.label}", max(size, floor + 1)))
    result.matched.append(target)
    return size
