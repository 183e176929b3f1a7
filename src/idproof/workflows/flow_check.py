"""Publish-time checks of a workflow graph: structure, termination, variables, CEL."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from idproof.workflows.cel import CelError, Compiled, Namespace, compile_expr
from idproof.workflows.steps.questionnaire import question_issues
from idproof.workflows.variables import (
    ANSWERS,
    CODE_PATTERN,
    NODE_ID_PATTERN,
    RUNNABLE_STEPS,
    STEP_TYPES,
    TERMINAL_TYPES,
    answers_namespace,
    env_at,
)

if TYPE_CHECKING:
    from idproof.workflows.flow_model import Flow, FlowNode, Rule, Transition


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


def _compile(src: str, steps: frozenset[str], issues: list[Issue],
             extra: Mapping[str, Namespace], **where: Any) -> Compiled | None:
    try:
        return compile_expr(src, env_at(steps, extra))
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
    """Check `flow` and compile its expressions; raises FlowInvalid with every issue found
    at the first stage that has any (structure, then paths, then expressions)."""
    issues, seen_types = _structure(flow, publish)
    if issues:
        raise FlowInvalid(issues)
    order = _order(flow, issues)
    if order is None:
        raise FlowInvalid(issues)
    issues += [Issue("unreachable_node", "no path from the start leads here", node=nid)
               for nid in flow.nodes if nid not in order]
    if issues:
        raise FlowInvalid(issues)
    dom = _dominators(flow, order)

    def kinds(ids: frozenset[str]) -> frozenset[str]:
        return frozenset(flow.nodes[i].type for i in ids if flow.nodes[i].type in STEP_TYPES)

    if "selfie" in seen_types and "document" not in kinds(dom[seen_types["selfie"]]):
        issues.append(Issue("selfie_without_document", "a selfie is matched against the "
                            "document: the document step must come before it on every path",
                            node=seen_types["selfie"]))
    extra = {ANSWERS: answers_namespace(flow.questions())}
    transitions: dict[str, tuple[tuple[str, Compiled | None], ...]] = {}
    for nid in order:
        transitions[nid] = tuple(
            (t.to, None if t.when is None else _compile(t.when, kinds(dom[nid]), issues,
                                                        extra, node=nid, transition=i))
            for i, t in enumerate(flow.nodes[nid].next))
    terminals = [n for n in order if flow.nodes[n].type in TERMINAL_TYPES]
    at_end = frozenset.intersection(*(kinds(dom[t]) for t in terminals))
    rules = _compile_rules(flow.decision, at_end, issues, extra)
    if issues:
        raise FlowInvalid(issues)
    return CompiledFlow(flow, transitions, tuple(rules), dom)


def _structure(flow: Flow, publish: bool) -> tuple[list[Issue], dict[str, str]]:
    """Issues of node ids, the start, step kinds and transitions; the node of each step."""
    issues: list[Issue] = []
    nodes = flow.nodes
    for nid in nodes:
        if not _matches(NODE_ID_PATTERN, nid):
            issues.append(Issue("invalid_node_id", "node ids are lower case letters, digits "
                                                   "and _ (at most 40)", node=nid))
    if flow.start not in nodes:
        issues.append(Issue("unknown_node", f"start {flow.start!r} is not a node",
                            node=flow.start))
        return issues, {}
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
            issues += _step_transitions(nid, node.next)
            issues += _settings(nid, node)
        elif node.next:
            issues.append(Issue("terminal_with_transitions", f"a {node.type} node ends the "
                                                             "flow", node=nid))
        issues += [Issue("unknown_node", f"transition to unknown node {t.to!r}", node=nid,
                         transition=i) for i, t in enumerate(node.next) if t.to not in nodes]
    return issues, seen_types


def _step_transitions(nid: str, nxt: Sequence[Transition]) -> list[Issue]:
    """A step's transitions: at least one, conditions first, the last unconditional."""
    if not nxt:
        return [Issue("dead_end", "a step must lead somewhere: add a transition to a review "
                                  "or end node", node=nid)]
    issues: list[Issue] = []
    if nxt[-1].when is not None:
        issues.append(Issue("no_default_transition", "the last transition must have no "
                            "condition (otherwise), so every outcome leads somewhere",
                            node=nid, transition=len(nxt) - 1))
    issues += [Issue("unreachable_transition", "only the last transition may have no "
                     "condition", node=nid, transition=i)
               for i, t in enumerate(nxt[:-1]) if t.when is None]
    return issues


def _settings(nid: str, node: FlowNode) -> list[Issue]:
    """A step's own settings: a questionnaire has a sound list of questions, and only a
    questionnaire has questions."""
    if node.type == "questionnaire":
        return [Issue("invalid_questions", msg, node=nid)
                for msg in question_issues(node.questions)]
    if node.questions:
        return [Issue("invalid_questions", f"a {node.type} step asks no questions", node=nid)]
    return []


def _dominators(flow: Flow, order: Sequence[str]) -> dict[str, frozenset[str]]:
    """For each node, the nodes on every path from the start to it (itself included)."""
    preds: dict[str, list[str]] = {n: [] for n in order}
    for nid in order:
        for t in flow.nodes[nid].next:
            preds[t.to].append(nid)
    dom: dict[str, frozenset[str]] = {}
    for nid in order:
        ps = [dom[p] for p in preds[nid]]
        dom[nid] = (frozenset.intersection(*ps) if ps else frozenset()) | {nid}
    return dom


def _compile_rules(decision: Sequence[Rule], at_end: frozenset[str], issues: list[Issue],
                   extra: Mapping[str, Namespace]) -> list[tuple[Rule, Compiled]]:
    rules: list[tuple[Rule, Compiled]] = []
    ids: set[str] = set()
    for rule in decision:
        if rule.id in ids:
            issues.append(Issue("duplicate_rule", f"rule id {rule.id!r} is used twice",
                                rule=rule.id))
        ids.add(rule.id)
        c = _compile(rule.when, at_end, issues, extra, rule=rule.id)
        if c is not None:
            rules.append((rule, c))
        issues += [Issue("invalid_reason_code", f"reason code {code!r}: lower case letters, "
                         "digits and _", rule=rule.id)
                   for code in rule.reasons if not _matches(CODE_PATTERN, code)]
    return rules


def _matches(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern, text) is not None

