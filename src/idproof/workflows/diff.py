"""What changed between two workflow versions: settings, nodes, transitions, rules (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Change:
    """`kind` added, removed or changed; `where` a dotted place (flow.nodes.face.next,
    flow.decision.borderline, minimum_age); `before`/`after` the values (None if absent)."""

    kind: str
    where: str
    before: Any = None
    after: Any = None


def diff_definitions(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Change]:
    """Changes from definition `a` to `b`; nodes and rules are matched by id, so a rule
    moved in the list shows as `changed` at its new position."""
    out: list[Change] = []
    for key in sorted(set(a) | set(b)):
        if key in ("flow", "version"):  # the version number differs by definition
            continue
        _compare(out, key, a.get(key), b.get(key))
    fa, fb = a.get("flow") or {}, b.get("flow") or {}
    for key in ("start", "otherwise"):
        _compare(out, f"flow.{key}", fa.get(key), fb.get(key))
    na, nb = fa.get("nodes") or {}, fb.get("nodes") or {}
    for nid in sorted(set(na) | set(nb)):
        _compare(out, f"flow.nodes.{nid}", na.get(nid), nb.get(nid), deep=True)
    ra = {r["id"]: (i, r) for i, r in enumerate(fa.get("decision") or ())}
    rb = {r["id"]: (i, r) for i, r in enumerate(fb.get("decision") or ())}
    for rid in list(dict.fromkeys([*ra, *rb])):
        before, after = ra.get(rid), rb.get(rid)
        if before and after and before[0] != after[0] and before[1] == after[1]:
            out.append(Change("changed", f"flow.decision.{rid}.position", before[0],
                              after[0]))
        else:
            _compare(out, f"flow.decision.{rid}", before and before[1], after and after[1],
                     deep=True)
    return out


def _compare(out: list[Change], where: str, x: Any, y: Any, *, deep: bool = False) -> None:
    if x == y:
        return
    if x is None:
        out.append(Change("added", where, None, y))
    elif y is None:
        out.append(Change("removed", where, x, None))
    elif deep and isinstance(x, dict) and isinstance(y, dict):
        for key in sorted(set(x) | set(y)):
            if x.get(key) != y.get(key):
                out.append(Change("changed", f"{where}.{key}", x.get(key), y.get(key)))
    else:
        out.append(Change("changed", where, x, y))
