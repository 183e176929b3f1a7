"""Workflow graphs: the publish-time validator, the walk and the CEL decision."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idproof.workflows.flow import (
    STEP_TYPES,
    Flow,
    Outcome,
    compile_flow,
    decide_flow,
    pending_steps,
    validate_flow,
)

EU = '["DEU", "FRA", "ITA", "ESP", "NLD"]'


def two_branch() -> dict[str, Any]:
    """Liveness only when the document is not from the EU; review near the threshold."""
    return {
        "start": "doc",
        "nodes": {
            "doc": {"type": "document", "next": [{"to": "face"}]},
            "face": {"type": "selfie", "next": [
                {"to": "live", "when": f"!(document.issuing_country in {EU})"},
                {"to": "end"}]},
            "live": {"type": "liveness", "next": [{"to": "end"}]},
            "end": {"type": "end"},
        },
        "decision": [
            {"id": "underage", "action": "decline", "when": "document.age < 18",
             "reasons": ["underage"]},
            {"id": "failed", "action": "decline", "when": "!passed"},
            {"id": "borderline", "action": "review",
             "when": "face.score >= 0.45 && face.score <= 0.55",
             "reasons": ["face_borderline"]},
            {"id": "ok", "action": "approve", "when": "true"},
        ],
    }


def doc(country: str, age: int = 30) -> Outcome:
    return Outcome("passed", (), {"issuing_country": country, "age": age,
                                  "document_valid": True})


def selfie(score: float) -> Outcome:
    return Outcome("passed", (), {"face_match": True, "face_score": score})


def test_two_branches() -> None:
    cf = compile_flow(Flow.model_validate(two_branch()))
    eu = decide_flow(cf, {"document": doc("DEU"), "selfie": selfie(0.3)})
    assert (eu.outcome, eu.path, eu.fired) == ("approve", ("doc", "face", "end"), ("ok",))
    other = {"document": doc("USA"), "selfie": selfie(0.3)}
    waiting = decide_flow(cf, other)  # liveness has one way on: the path is known already
    assert waiting.path == ("doc", "face", "live", "end")
    assert "liveness_incomplete" in waiting.reasons
    assert pending_steps(cf, other) == ["liveness"]
    done = decide_flow(cf, {**other, "liveness": Outcome("passed")})
    assert done.outcome == "approve" and done.path == ("doc", "face", "live", "end")
    border = decide_flow(cf, {"document": doc("FRA"), "selfie": selfie(0.5)})
    assert (border.outcome, border.reasons) == ("review", ("face_borderline",))
    young = decide_flow(cf, {"document": doc("FRA", 16), "selfie": selfie(0.5)})
    assert young.outcome == "decline" and young.fired == ("underage", "borderline", "ok")
    assert young.reasons == ("underage", "face_borderline")
    # before the selfie has a result its transitions cannot be chosen
    assert pending_steps(cf, {"document": doc("USA")}) == ["selfie"]


def test_a_review_node_turns_approval_into_review() -> None:
    spec = two_branch()
    spec["nodes"]["face"]["next"][1] = {"to": "manual"}
    spec["nodes"]["manual"] = {"type": "review", "reasons": ["eu_manual_check"]}
    cf = compile_flow(Flow.model_validate(spec))
    d = decide_flow(cf, {"document": doc("DEU"), "selfie": selfie(0.3)})
    assert (d.outcome, d.reasons) == ("review", ("eu_manual_check",))


def test_a_missing_value_sends_to_review() -> None:
    cf = compile_flow(Flow.model_validate(two_branch()))
    d = decide_flow(cf, {"document": Outcome("passed"), "selfie": selfie(0.3)})
    assert d.outcome == "review" and "workflow_rule_error" in d.reasons and d.errors


def issues_of(spec: dict[str, Any], publish: bool = True) -> list[tuple[str, Any]]:
    return [(i.code, i.node or i.rule) for i in validate_flow(Flow.model_validate(spec),
                                                               publish=publish)]


def test_validator_names_the_place() -> None:
    assert issues_of(two_branch()) == []
    bad = two_branch()
    bad["nodes"]["doc"]["next"] = [{"to": "face", "when": "face.score < 0.5"}, {"to": "end"}]
    # doc -> end skips the selfie, so the borderline rule cannot read face.score either
    issue, rule = validate_flow(Flow.model_validate(bad))
    assert (rule.code, rule.rule) == ("cel_unavailable_variable", "borderline")
    assert (issue.code, issue.node, issue.transition) == ("cel_unavailable_variable", "doc", 0)
    assert issue.expression == "face.score < 0.5" and issue.position == 5
    bad = two_branch()
    bad["decision"][0]["when"] = "liveness.passed"  # liveness is not on every path
    assert issues_of(bad) == [("cel_unavailable_variable", "underage")]
    bad["decision"][0]["when"] = "liveness.done && liveness.passed"
    assert issues_of(bad) == []
    bad["decision"][0]["when"] = "document.age <"
    assert issues_of(bad) == [("cel_syntax", "underage")]


@pytest.mark.parametrize(("change", "expected"), [
    (lambda s: s["nodes"]["live"].update(next=[{"to": "doc"}]), [("cycle", "doc")]),
    (lambda s: s["nodes"].update(lost={"type": "end"}), [("unreachable_node", "lost")]),
    (lambda s: s["nodes"]["live"].update(next=[]), [("dead_end", "live")]),
    (lambda s: s["nodes"]["face"]["next"].pop(), [("no_default_transition", "face")]),
    (lambda s: s["nodes"]["face"]["next"].insert(0, {"to": "end"}),
     [("unreachable_transition", "face")]),
    (lambda s: s["nodes"]["end"].update(next=[{"to": "doc"}]),
     [("terminal_with_transitions", "end")]),
    (lambda s: s["nodes"]["live"].update(next=[{"to": "nowhere"}]),
     [("unknown_node", "live")]),
    (lambda s: s.update(start="nowhere"), [("unknown_node", "nowhere")]),
    (lambda s: s["nodes"]["live"].update(type="document"), [("duplicate_step", "live")]),
    (lambda s: s["decision"].append(dict(s["decision"][0])), [("duplicate_rule", "underage")]),
    (lambda s: s["decision"][0].update(reasons=["Bad Code"]),
     [("invalid_reason_code", "underage")]),
])
def test_bad_graphs(change: Any, expected: list[tuple[str, Any]]) -> None:
    spec = two_branch()
    change(spec)
    assert issues_of(spec) == expected


def test_unavailable_steps_validate_as_drafts() -> None:
    spec = two_branch()
    spec["nodes"]["live"]["type"] = "email"
    assert issues_of(spec, publish=False) == []


# -- random graphs: every graph the validator accepts terminates --------------------------
CONDITIONS = ["passed", "size(reasons) > 0", "signals.ip_country == 'DEU'",
              "document.done && document.age > 20", "face.score < 0.5", "liveness.passed"]


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 5))
    kinds = draw(st.permutations((*STEP_TYPES[:3], "email", "phone")))[:n]
    ids = [f"n{i}" for i in range(n)] + ["end", "rev"]
    nodes: dict[str, Any] = {"end": {"type": "end"}, "rev": {"type": "review"}}
    for i in range(n):
        k = draw(st.integers(0, 3))
        nxt = [{"to": draw(st.sampled_from(ids)), "when": draw(st.sampled_from(CONDITIONS))}
               for _ in range(k)]
        if draw(st.booleans()) or not nxt:
            nxt.append({"to": draw(st.sampled_from(ids))})
        nodes[f"n{i}"] = {"type": kinds[i], "next": nxt}
    return {"start": "n0", "nodes": nodes, "decision": [
        {"id": "r", "action": draw(st.sampled_from(["decline", "review", "approve"])),
         "when": draw(st.sampled_from(CONDITIONS))}]}


OUTCOME = st.builds(Outcome, st.sampled_from(["passed", "failed"]),
                    st.sampled_from([(), ("x",)]),
                    st.fixed_dictionaries({"age": st.integers(0, 90),
                                           "face_score": st.floats(0, 1)}))


@settings(max_examples=300, deadline=None)
@given(graphs(), st.dictionaries(st.sampled_from(STEP_TYPES), OUTCOME))
def test_every_accepted_graph_terminates(spec: dict[str, Any],
                                         outcomes: dict[str, Outcome]) -> None:
    flow = Flow.model_validate(spec)
    if validate_flow(flow):
        return
    cf = compile_flow(flow)
    d = decide_flow(cf, outcomes)
    assert len(d.path) <= len(flow.nodes)
    assert len(set(d.path)) == len(d.path)  # never a node twice
    kinds = [node.type for node in flow.nodes.values() if node.type in STEP_TYPES]
    if all(k in outcomes for k in kinds):
        # every step has a final outcome: the walk ends at an end or review node
        assert d.outcome in ("approve", "decline", "review")
        assert d.errors or flow.nodes[d.path[-1]].type in ("end", "review")


def quiz_branch(rule: str) -> dict[str, Any]:
    """A questionnaire whose answer picks the path: a PEP goes through screening."""
    return {
        "start": "doc",
        "nodes": {
            "doc": {"type": "document", "next": [{"to": "quiz"}]},
            "quiz": {"type": "questionnaire", "questions": [
                {"id": "pep", "type": "choice", "label": "PEP?", "options": ["yes", "no"]},
                {"id": "job", "type": "text", "label": "Job"}],
                "next": [{"to": "scr", "when": 'answers.pep == "yes"'}, {"to": "end"}]},
            "scr": {"type": "screening", "next": [{"to": "end"}]},
            "end": {"type": "end"}},
        "decision": [{"id": "r", "action": "review", "when": rule},
                     {"id": "ok", "action": "approve", "when": "true"}]}


def test_answers_choose_the_path_and_decide() -> None:
    cf = compile_flow(Flow.model_validate(quiz_branch('answers.pep == "yes"')))
    no = {"document": doc("DEU"), "questionnaire": Outcome("passed", (), {
        "answers": {"pep": "no"}})}
    d = decide_flow(cf, no)
    assert d.path == ("doc", "quiz", "end") and d.outcome == "approve"
    yes = {**no, "questionnaire": Outcome("passed", (), {"answers": {"pep": "yes"}})}
    assert pending_steps(cf, yes) == ["screening"]
    # While the document is read, screening (it runs by itself then) holds nothing back.
    reading = {**yes, "document": Outcome("processing")}
    assert pending_steps(cf, reading) == []
    d = decide_flow(cf, {**yes, "screening": Outcome("passed", (), {"hit": False})})
    assert d.path == ("doc", "quiz", "scr", "end") and d.outcome == "review"
    assert d.fired == ("r", "ok")


def test_a_text_answer_is_no_variable_and_publish_names_the_rule() -> None:
    issues = validate_flow(Flow.model_validate(quiz_branch('answers.job == "baker"')),
                           publish=True)
    assert [(i.code, i.rule) for i in issues] == [("cel_unknown_variable", "r")]
