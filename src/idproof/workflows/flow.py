"""Workflow graphs: the definition model and its evaluation (walk, activation, decision)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from idproof.workflows.cel import CelEvalError, context
from idproof.workflows.flow_check import (
    CompiledFlow,
    FlowInvalid,
    Issue,
    compile_flow,
    validate_flow,
)
from idproof.workflows.flow_model import Flow, FlowNode, Rule, Transition
from idproof.workflows.variables import (
    ANSWERS,
    CODE_PATTERN,
    COMMON_FIELDS,
    FACE_FACTS,
    FACT_FIELDS,
    NAMESPACES,
    RUNNABLE_STEPS,
    SCALARS,
    SIGNAL_DEFAULTS,
    STEP_TYPES,
    TERMINAL_TYPES,
    Action,
    answer_values,
    env_at,
)

__all__ = ["AUTOMATIC_STEPS", "CODE_PATTERN", "NAMESPACES", "RUNNABLE_STEPS", "SCALARS",
           "STEP_TYPES", "TERMINAL_TYPES", "CompiledFlow", "Flow", "FlowDecision", "FlowInvalid",
           "FlowNode",
           "Issue", "Outcome", "Rule", "Transition", "activation", "compile_flow", "compiled",
           "decide_flow",
           "env_at", "linear_flow", "pending_steps", "validate_flow", "walk"]


def compiled(flow: Flow) -> CompiledFlow:
    """The checked and compiled flow (cached on the instance); raises FlowInvalid."""
    if flow._compiled is None:
        flow._compiled = compile_flow(flow)
    result: CompiledFlow = flow._compiled
    return result


# -- evaluation ----------------------------------------------------------------------------
COMPLETE = frozenset({"passed", "failed"})
# Steps that need no person: they run when the session reaches them (screening reads the
# document's name, birth date and nationality).
AUTOMATIC_STEPS = frozenset({"screening"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a step established: state (pending, processing, passed, failed, retry), its
    reason codes, and facts (booleans, numbers, strings) named as the step jobs record them."""

    state: str
    reasons: tuple[str, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.state in COMPLETE


@dataclass(frozen=True)
class FlowDecision:
    """`outcome` approve, decline or review (None while waiting for a step), the reasons,
    the nodes walked, the rules that held (the first decides), and evaluation errors."""

    outcome: Action | None
    reasons: tuple[str, ...]
    path: tuple[str, ...]
    fired: tuple[str, ...]
    waiting: str | None = None
    errors: tuple[str, ...] = ()


def activation(flow: Flow, path: Sequence[str], outcomes: Mapping[str, Outcome],
               signals: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The variables' values after the step nodes of `path` (others are `{done: false}`)."""
    act: dict[str, Any] = {k: {"done": False} for k in NAMESPACES}
    act[ANSWERS] = {}
    act["signals"] = {**SIGNAL_DEFAULTS, **(signals or {})}
    reasons: list[str] = []
    passed = True
    for nid in path:
        kind = flow.nodes[nid].type
        if kind not in STEP_TYPES:
            continue
        o = outcomes.get(kind)
        if o is None or not o.complete:
            reasons.append(f"{kind}_incomplete")
            passed = False
            continue
        reasons.extend(o.reasons)
        passed = passed and o.state == "passed"
        value: dict[str, Any] = {"done": True, "passed": o.state == "passed",
                                 "state": o.state, "reasons": list(o.reasons)}
        fields = NAMESPACES[kind].fields
        mapping = FACT_FIELDS.get(kind, {})
        for fact, v in o.facts.items():
            name = mapping.get(fact, fact)
            if name in fields and name not in COMMON_FIELDS:
                value[name] = v
        act[kind] = value
        if kind == "questionnaire":
            act[ANSWERS] = answer_values(flow.questions(), o.facts.get("answers") or {})
        if kind == "selfie":
            act["face"] = {"done": True, **{FACE_FACTS[f]: v for f, v in o.facts.items()
                                            if f in FACE_FACTS}}
    act["reasons"] = reasons
    act["passed"] = passed
    return act


def walk(cf: CompiledFlow, outcomes: Mapping[str, Outcome],
         signals: Mapping[str, Any] | None = None) -> tuple[list[str], str | None, list[str]]:
    """(path, the step waited for or None, errors): from the start, a step with a single
    unconditional transition moves on at once; one with conditions once it is complete."""
    flow = cf.flow
    path = [flow.start]
    errors: list[str] = []
    while True:
        nid = path[-1]
        node = flow.nodes[nid]
        if node.type in TERMINAL_TYPES:
            return path, None, errors
        options = cf.transitions[nid]
        if len(options) == 1:
            path.append(options[0][0])
            continue
        o = outcomes.get(node.type)
        if o is None or not o.complete:
            return path, nid, errors
        ctx = context(activation(flow, path, outcomes, signals))
        for to, cond in options:
            try:
                if cond is None or cond.evaluate_in(ctx) is True:
                    path.append(to)
                    break
            except CelEvalError as exc:
                errors.append(str(exc))
                return path, None, errors


def pending_steps(cf: CompiledFlow, outcomes: Mapping[str, Outcome],
                  signals: Mapping[str, Any] | None = None) -> list[str]:
    """Step types on the path so far whose outcome is missing or waiting for a retake."""
    path, _, _ = walk(cf, outcomes, signals)
    out: list[str] = []
    reading = (doc := outcomes.get("document")) is not None and doc.state == "processing"
    for nid in path:
        kind = cf.flow.nodes[nid].type
        if kind in STEP_TYPES:
            o = outcomes.get(kind)
            if kind in AUTOMATIC_STEPS and reading:
                continue  # runs by itself once the document is read (in the document job)
            if o is None or o.state in ("pending", "retry"):
                out.append(kind)
    return out


def decide_flow(cf: CompiledFlow, outcomes: Mapping[str, Outcome],
                signals: Mapping[str, Any] | None = None) -> FlowDecision:
    """Walk the graph, then run the decision rules in order: the first that holds decides;
    a review node turns an approval into review; an evaluation error sends to review."""
    flow = cf.flow
    path, waiting, errors = walk(cf, outcomes, signals)
    act = activation(flow, path, outcomes, signals)
    reasons: list[str] = list(act["reasons"])
    terminal = flow.nodes[path[-1]]
    if terminal.type not in TERMINAL_TYPES:
        reasons.append("workflow_rule_error" if errors else f"{terminal.type}_incomplete")
        return FlowDecision("review" if errors else None, tuple(dict.fromkeys(reasons)),
                            tuple(path), (), waiting, tuple(errors))
    ctx = context(act)
    fired: list[str] = []
    decided: Action | None = None
    for rule, program in cf.rules:
        try:
            held = program.evaluate_in(ctx) is True
        except CelEvalError as exc:
            errors.append(str(exc))
            reasons.append("workflow_rule_error")
            continue
        if held:
            fired.append(rule.id)
            reasons.extend(rule.reasons)
            if decided is None:
                decided = rule.action
    outcome: Action = decided or flow.otherwise
    if errors and outcome == "approve":
        outcome = "review"
    if terminal.type == "review" and outcome == "approve":
        outcome = "review"
        reasons.extend(terminal.reasons or ("manual_review",))
    return FlowDecision(outcome, tuple(dict.fromkeys(reasons)), tuple(path), tuple(fired),
                        None, tuple(errors))


def linear_flow(steps: Sequence[str], decline: Sequence[str], review: Sequence[str]) -> Flow:
    """A built-in workflow as a graph: its steps in a line, then three rules that decide
    exactly as the reason-list `decide()` does."""
    nodes: dict[str, FlowNode] = {}
    for i, step in enumerate(steps):
        nxt = steps[i + 1] if i + 1 < len(steps) else "end"
        nodes[step] = FlowNode(type=step, next=(Transition(to=nxt),))
    nodes["end"] = FlowNode(type="end")
    listed = ", ".join(f'"{r}"' for r in decline)
    rules = []
    if decline:
        rules.append(Rule(id="declining_reason", action="decline",
                          when=f"reasons.exists(r, r in [{listed}])"))
    rules.append(Rule(id="any_reason_or_failure", action="review",
                      when="!passed || size(reasons) > 0"))
    rules.append(Rule(id="all_passed", action="approve", when="true"))
    del review  # review and unknown reasons both send to review, as decide() does
    return Flow(start=steps[0], nodes=nodes, decision=tuple(rules), otherwise="review")
