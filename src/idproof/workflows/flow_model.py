"""The workflow definition model: nodes, transitions, decision rules (validated by pydantic)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from idproof.workflows.cel import MAX_LENGTH
from idproof.workflows.steps.questionnaire import MAX_QUESTIONS, Question
from idproof.workflows.variables import (
    MAX_NODES,
    MAX_RULES,
    NODE_ID_PATTERN,
    STEP_TYPES,
    Action,
    NodeType,
    ReasonCode,
)


# -- the definition ------------------------------------------------------------------------
class Transition(BaseModel):
    """Go to `to` when `when` holds; no `when` is "otherwise" (must come last)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    to: str = Field(pattern=NODE_ID_PATTERN)
    when: str | None = Field(None, max_length=MAX_LENGTH)


class FlowNode(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: NodeType
    title: str | None = Field(None, max_length=200)
    next: tuple[Transition, ...] = Field(default=(), max_length=20)
    # A review node: the reason codes it adds when the rules would have approved.
    reasons: tuple[ReasonCode, ...] = Field(default=(), max_length=10)
    # A questionnaire node: its questions, asked in order (see steps/questionnaire.py).
    questions: tuple[Question, ...] = Field(default=(), max_length=MAX_QUESTIONS)


class Rule(BaseModel):
    """`action` when `when` holds, adding `reasons`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=NODE_ID_PATTERN)
    action: Action
    when: str = Field(max_length=MAX_LENGTH)
    reasons: tuple[ReasonCode, ...] = Field(default=(), max_length=10)


class Flow(BaseModel):
    """The graph: `start`, the nodes by id, and the decision rules in order (the first
    that holds decides; `otherwise` when none does)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: str = Field(pattern=NODE_ID_PATTERN)
    nodes: dict[str, FlowNode] = Field(min_length=1, max_length=MAX_NODES)
    decision: tuple[Rule, ...] = Field(default=(), max_length=MAX_RULES)
    otherwise: Action = "review"
    _compiled: Any = PrivateAttr(default=None)

    def questions(self) -> tuple[tuple[str, str], ...]:
        """(id, type) of the questionnaire's questions, in order (none without one)."""
        return tuple((q.id, q.type) for n in self.nodes.values() if n.type == "questionnaire"
                     for q in n.questions)

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
