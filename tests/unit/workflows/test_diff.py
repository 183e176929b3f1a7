"""Differences between two workflow versions, by place."""

from __future__ import annotations

import copy
from typing import Any

from idproof.workflows.diff import Change, diff_definitions
from tests.unit.workflows.test_workflow_graph import two_branch


def _def() -> dict[str, Any]:
    return {"title": "EU", "minimum_age": 18, "flow": two_branch()}


def test_identical_versions_have_no_changes() -> None:
    assert diff_definitions(_def(), _def()) == []


def test_changes_are_named_by_place() -> None:
    a, b = _def(), _def()
    b["minimum_age"] = 21
    b["flow"]["nodes"]["face"]["next"][0]["when"] = "face.score > 0.6"
    b["flow"]["nodes"]["mail"] = {"type": "email", "next": [{"to": "end"}]}
    del b["flow"]["nodes"]["live"]
    b["flow"]["decision"][2]["reasons"] = ["face_near_threshold"]
    b["flow"]["decision"].append({"id": "extra", "action": "review", "when": "false"})
    got = {(c.kind, c.where) for c in diff_definitions(a, b)}
    assert got == {("changed", "minimum_age"), ("changed", "flow.nodes.face.next"),
                   ("added", "flow.nodes.mail"), ("removed", "flow.nodes.live"),
                   ("changed", "flow.decision.borderline.reasons"),
                   ("added", "flow.decision.extra")}
    (age,) = [c for c in diff_definitions(a, b) if c.where == "minimum_age"]
    assert age == Change("changed", "minimum_age", 18, 21)


def test_a_moved_rule_is_a_position_change() -> None:
    a = _def()
    b = copy.deepcopy(a)
    rules = b["flow"]["decision"]
    rules[0], rules[1] = rules[1], rules[0]
    got = diff_definitions(a, b)
    assert [(c.where, c.before, c.after) for c in got] == [
        ("flow.decision.underage.position", 0, 1), ("flow.decision.failed.position", 1, 0)]
