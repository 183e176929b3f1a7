"""Workflow graphs: steps, CEL transitions, ordered decision rules, validation, evaluation."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from idproof.workflows.cel import (
    MAX_LENGTH,
    CelError,
    CelEvalError,
    Compiled,
    Env,
    Namespace,
    compile_expr,
    context,
    list_of,
)

NodeType = Literal["document", "selfie", "liveness", "email", "phone", "questionnaire",
                   "screening", "review", "end"]
Action = Literal["decline", "review", "approve"]
STEP_TYPES: tuple[str, ...] = ("document", "selfie", "liveness", "email", "phone",
                               "questionnaire", "screening")
TERMINAL_TYPES = frozenset({"review", "end"})
# The steps this server can capture today; the others validate but cannot be published yet.
RUNNABLE_STEPS = frozenset({"document", "selfie", "liveness"})
MAX_NODES = 100
MAX_RULES = 100
ReasonCode = str
_CODE = r"^[a-z][a-z0-9_]{1,63}$"
_NODE_ID = r"^[a-z][a-z0-9_]{0,39}$"

# -- the variables -------------------------------------------------------------------------
_COMMON = {"done": "bool", "passed": "bool", "state": "string", "reasons": list_of("string")}
_COMMON_DOC = {
    "done": "the step ran and has a final result (always known)",
    "passed": "the step passed", "state": "passed or failed",
    "reasons": "the step's reason codes"}
NAMESPACES: dict[str, Namespace] = {
    "document": Namespace("document", {
        **_COMMON, "valid": "bool", "age_over_18": "bool", "type": "string",
        "issuing_country": "string", "nationality": "string", "age": "int"}, doc={
        **_COMMON_DOC, "valid": "not expired, checksums and policy passed",
        "age_over_18": "the holder is 18 or older", "type": "passport, id_card, "
        "driving_licence, residence_permit or visa", "issuing_country": "ICAO code (DEU)",
        "nationality": "ICAO code", "age": "the holder's age in whole years"}),
    "selfie": Namespace("selfie", {**_COMMON, "match": "bool"},
                        doc={**_COMMON_DOC, "match": "the face matches the document"}),
    "face": Namespace("selfie", {"done": "bool", "match": "bool", "score": "double"}, doc={
        "done": "the selfie step ran", "match": "the face matches the document",
        "score": "distance between the faces (lower is closer; 0.5 is the default "
                 "threshold)"}),
    "liveness": Namespace("liveness", dict(_COMMON), doc=dict(_COMMON_DOC)),
    "email": Namespace("email", {**_COMMON, "verified": "bool", "domain": "string",
                                 "disposable": "bool"},
                       doc={**_COMMON_DOC, "verified": "the code was confirmed",
                            "domain": "the address's domain",
                            "disposable": "a disposable-address domain"}),
    "phone": Namespace("phone", {**_COMMON, "verified": "bool", "country": "string",
                                 "line_type": "string"},
                       doc={**_COMMON_DOC, "verified": "the code was confirmed",
                            "country": "ISO 3166 alpha-2 of the number",
                            "line_type": "mobile, fixed_line, voip, ..."}),
    "questionnaire": Namespace("questionnaire", dict(_COMMON), doc=dict(_COMMON_DOC)),
    "screening": Namespace("screening", {**_COMMON, "hit": "bool"},
                           doc={**_COMMON_DOC, "hit": "a possible sanctions or PEP match"}),
    "signals": Namespace("signals", {"ip_country": "string", "new_account": "bool"},
                         always=frozenset({"ip_country", "new_account"}), doc={
                             "ip_country": "ICAO code of the client IP's country, '' if "
                                           "unknown",
                             "new_account": "the session's metadata says new_account"}),
}
SCALARS: dict[str, str] = {"reasons": list_of("string"), "passed": "bool"}
SCALAR_DOC = {"reasons": "every reason code of the steps so far, in order",
              "passed": "every step so far passed"}
# Step facts (as the step jobs record them) -> field of the step's variable.
_FACT_FIELDS: dict[str, dict[str, str]] = {
    "document": {"document_valid": "valid", "age_over_18": "age_over_18",
                 "document_type": "type", "issuing_country": "issuing_country",
                 "nationality": "nationality", "age": "age"},
    "selfie": {"face_match": "match"},
}
_FACE_FACTS = {"face_match": "match", "face_score": "score"}
SIGNAL_DEFAULTS: dict[str, Any] = {"ip_country": "", "new_account": False}


def env_at(steps: frozenset[str]) -> Env:
    """The variables an expression may use where `steps` have run on every path."""
    avail = frozenset(k for k, ns in NAMESPACES.items() if ns.step in steps
                      or k == "signals")
    return Env(SCALARS, NAMESPACES, avail)


# -- the definition ------------------------------------------------------------------------
class Transition(BaseModel):
    """Go to `to` when `when` holds; no `when` is "otherwise" (must come last)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    to: str = Field(pattern=_NODE_ID)
    when: str | None = Field(None, max_length=MAX_LENGTH)


class FlowNode(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: NodeType
    title: str | None = Field(None, max_length=200)
    next: tuple[Transition, ...] = Field(default=(), max_length=20)
    # A review node: the reason codes it adds when the rules would have approved.
    reasons: tuple[ReasonCode, ...] = Field(default=(), max_length=10)


class Rule(BaseModel):
    """`action` when `when` holds, adding `reasons`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_NODE_ID)
    action: Action
    when: str = Field(max_length=MAX_LENGTH)
    reasons: tuple[ReasonCode, ...] = Field(default=(), max_length=10)


class Flow(BaseModel):
    """The graph: `start`, the nodes by id, and the decision rules in order (the first
    that holds decides; `otherwise` when none does)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: str = Field(pattern=_NODE_ID)
    nodes: dict[str, FlowNode] = Field(min_length=1, max_length=MAX_NODES)
    decision: tuple[Rule, ...] = Field(default=(), max_length=MAX_RULES)
    otherwise: Action = "review"
    _compiled: Any = PrivateAttr(default=None)

    def compiled(self) -> CompiledFlow:
        """The checked and compiled flow (cached on the instance); raises FlowInvalid."""
        if self._compiled is None:
            self._compiled = compile_flow(self)
        compiled: CompiledFlow = self._compiled
        return compiled

    def step_order(self) -> tuple[str, ...]:
        """The step types in a topological order from `start` (depth-first, stable)."""
        seen: list[str] = []
        order: list[str] = []

        def visit(nid: str) -> None:
            if nid in seen or nid not in self.nodes:
                return
            seen.append(nid)
            for t in self.nodes[nid].next:
                visit(t.to)
            order.append(nid)

        visit(self.start)
        kinds = [self.nodes[n].type for n in reversed(order)]
        return tuple(dict.fromkeys(k for k in kinds if k in STEP_TYPES))


# -- validation ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Issue:
    """One thing wrong, with where: the node, the transition or rule index, the expression
    and the character position in it."""

    code: str
    message: str
    node: str | None = None
    rule: str | None = None
    transition: int | None = None
    expression: str | None = None
    position: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class FlowInvalid(ValueError):
    def __init__(self, issues: Sequence[Issue]) -> None:
        super().__init__("; ".join(f"{i.code}: {i.message}" for i in issues))
        self.issues = tuple(issues)


@dataclass(frozen=True)
class CompiledFlow:
    flow: Flow
    transitions: Mapping[str, tuple[tuple[str, Compiled | None], ...]]
    rules: tuple[tuple[Rule, Compiled], ...]
    dominators: Mapping[str, frozenset[str]]


def _order(flow: Flow, issues: list[Issue]) -> list[str] | None:
    """Reachable nodes in topological order, or None with a `cycle` issue."""
    state: dict[str, int] = {}
    out: list[str] = []

    def visit(nid: str, trail: list[str]) -> bool:
        if state.get(nid) == 2:
            return True
        if state.get(nid) == 1:
            loop = [*trail[trail.index(nid):], nid]
            issues.append(Issue("cycle", f"the steps loop: {' -> '.join(loop)}; a step "
                                         f"runs once, so every path must move on to an end",
                                node=nid))
            return False
        state[nid] = 1
        for t in flow.nodes[nid].next:
            if t.to in flow.nodes and not visit(t.to, [*trail, nid]):
                return False
        state[nid] = 2
        out.append(nid)
        return True

    if not visit(flow.start, []):
        return None
    return list(reversed(out))


def _compile(src: str, steps: frozenset[str], issues: list[Issue], **where: Any
             ) -> Compiled | None:
    try:
        return compile_expr(src, env_at(steps))
    except CelError as exc:
        issues.append(Issue(exc.code, exc.message, expression=src, position=exc.position,
                            **where))
        return None


def validate_flow(flow: Flow, *, publish: bool = False) -> list[Issue]:
    """Every problem of the graph and its expressions; empty when it can run."""
    try:
        compile_flow(flow, publish=publish)
    except FlowInvalid as exc:
        return list(exc.issues)
    return []


def compile_flow(flow: Flow, *, publish: bool = False) -> CompiledFlow:
    issues: list[Issue] = []
    nodes = flow.nodes
    for nid in nodes:
        if not _matches(_NODE_ID, nid):
            issues.append(Issue("invalid_node_id", "node ids are lower case letters, digits "
                                                   "and _ (at most 40)", node=nid))
    if flow.start not in nodes:
        issues.append(Issue("unknown_node", f"start {flow.start!r} is not a node",
                            node=flow.start))
        raise FlowInvalid(issues)
    if nodes[flow.start].type in TERMINAL_TYPES:
        issues.append(Issue("no_steps", "the flow starts at an end: add a step",
                            node=flow.start))
    seen_types: dict[str, str] = {}
    for nid, node in nodes.items():
        if node.type in STEP_TYPES:
            if node.type in seen_types:
                issues.append(Issue("duplicate_step", f"{node.type} is already node "
                                    f"{seen_types[node.type]!r}: a step runs once", node=nid))
            seen_types[node.type] = nid
            if publish and node.type not in RUNNABLE_STEPS:
                issues.append(Issue("step_unavailable", f"the {node.type} step cannot be "
                                    "run by this server yet", node=nid))
            if not node.next:
                issues.append(Issue("dead_end", "a step must lead somewhere: add a "
                                                "transition to a review or end node",
                                    node=nid))
            elif node.next[-1].when is not None:
                issues.append(Issue("no_default_transition", "the last transition must "
                                    "have no condition (otherwise), so every outcome leads "
                                    "somewhere", node=nid, transition=len(node.next) - 1))
            for i, t in enumerate(node.next[:-1]):
                if t.when is None:
                    issues.append(Issue("unreachable_transition", "only the last transition "
                                        "may have no condition", node=nid, transition=i))
        elif node.next:
            issues.append(Issue("terminal_with_transitions", f"a {node.type} node ends the "
                                                             "flow", node=nid))
        for i, t in enumerate(node.next):
            if t.to not in nodes:
                issues.append(Issue("unknown_node", f"transition to unknown node {t.to!r}",
                                    node=nid, transition=i))
    if issues:
        raise FlowInvalid(issues)
    order = _order(flow, issues)
    if order is None:
        raise FlowInvalid(issues)
    for nid in nodes:
        if nid not in order:
            issues.append(Issue("unreachable_node", "no path from the start leads here",
                                node=nid))
    if issues:
        raise FlowInvalid(issues)
    preds: dict[str, list[str]] = {n: [] for n in order}
    for nid in order:
        for t in nodes[nid].next:
            preds[t.to].append(nid)
    dom: dict[str, frozenset[str]] = {}
    for nid in order:
        ps = [dom[p] for p in preds[nid]]
        dom[nid] = (frozenset.intersection(*ps) if ps else frozenset()) | {nid}

    def kinds(ids: frozenset[str]) -> frozenset[str]:
        return frozenset(nodes[i].type for i in ids if nodes[i].type in STEP_TYPES)

    if "selfie" in seen_types and "document" not in kinds(dom[seen_types["selfie"]]):
        issues.append(Issue("selfie_without_document", "a selfie is matched against the "
                            "document: the document step must come before it on every path",
                            node=seen_types["selfie"]))
    transitions: dict[str, tuple[tuple[str, Compiled | None], ...]] = {}
    for nid in order:
        compiled: list[tuple[str, Compiled | None]] = []
        for i, t in enumerate(nodes[nid].next):
            c = None if t.when is None else _compile(t.when, kinds(dom[nid]), issues,
                                                     node=nid, transition=i)
            compiled.append((t.to, c))
        transitions[nid] = tuple(compiled)
    terminals = [n for n in order if nodes[n].type in TERMINAL_TYPES]
    at_end = frozenset.intersection(*(kinds(dom[t]) for t in terminals))
    rules: list[tuple[Rule, Compiled]] = []
    ids: set[str] = set()
    for rule in flow.decision:
        if rule.id in ids:
            issues.append(Issue("duplicate_rule", f"rule id {rule.id!r} is used twice",
                                rule=rule.id))
        ids.add(rule.id)
        c = _compile(rule.when, at_end, issues, rule=rule.id)
        if c is not None:
            rules.append((rule, c))
        for code in rule.reasons:
            if not _matches(_CODE, code):
                issues.append(Issue("invalid_reason_code", f"reason code {code!r}: lower "
                                    "case letters, digits and _", rule=rule.id))
    if issues:
        raise FlowInvalid(issues)
    return CompiledFlow(flow, transitions, tuple(rules), dom)


def _matches(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern, text) is not None


# -- evaluation ----------------------------------------------------------------------------
COMPLETE = frozenset({"passed", "failed"})


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
        mapping = _FACT_FIELDS.get(kind, {})
        for fact, v in o.facts.items():
            name = mapping.get(fact, fact)
            if name in fields and name not in _COMMON:
                value[name] = v
        act[kind] = value
        if kind == "selfie":
            act["face"] = {"done": True, **{_FACE_FACTS[f]: v for f, v in o.facts.items()
                                            if f in _FACE_FACTS}}
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
    for nid in path:
        kind = cf.flow.nodes[nid].type
        if kind in STEP_TYPES:
            o = outcomes.get(kind)
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
