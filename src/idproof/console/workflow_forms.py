"""The workflow builder's forms and texts: drafts, copies, simulator outcomes (pure, no I/O)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from idproof.core.errors import IdproofError, ValidationFailed
from idproof.workflows.variables import STEP_TYPES

WORKFLOW_ID = r"^[a-z][a-z0-9_]{1,48}$"
MAX_DEFINITION = 200_000  # characters of JSON: far above MAX_NODES nodes with long rules
STATES = ("passed", "failed", "pending")


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CopyForm(_Form):
    new_id: str = Field(pattern=WORKFLOW_ID)
    copy_from: str = Field(pattern=WORKFLOW_ID)


class DraftForm(_Form):
    definition: str = Field(min_length=2, max_length=MAX_DEFINITION)


class CheckBody(BaseModel):
    """What the builder's script sends to be checked (never stored)."""

    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any]


# One state, reasons and facts field per step type: a fixed set, so extra fields are refused.
_SIM_FIELDS: dict[str, Any] = {"version": (int, Field(ge=1)),
                               "signals": (str, Field("", max_length=2000))}
for _kind in STEP_TYPES:
    _SIM_FIELDS[f"state_{_kind}"] = (str, Field("", pattern=r"^(|passed|failed|pending)$"))
    _SIM_FIELDS[f"reasons_{_kind}"] = (str, Field("", max_length=500))
    _SIM_FIELDS[f"facts_{_kind}"] = (str, Field("", max_length=2000))
SimulateForm = create_model("SimulateForm", __base__=_Form, **_SIM_FIELDS)


def parse_definition_text(text: str) -> dict[str, Any]:
    """The draft's JSON as an object; 422 `invalid_json` naming the line and column."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"the definition is not JSON (line {exc.lineno}, column "
                               f"{exc.colno}: {exc.msg})", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ValidationFailed("the definition must be a JSON object", code="invalid_json")
    return data


def _value(text: str) -> bool | int | float | str:
    """A fact's value as typed in the simulator: true/false, a number, else text."""
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip('"')


def parse_facts(text: str, what: str) -> dict[str, bool | int | float | str]:
    """`name = value` lines (or separated by `;`); 422 `invalid_facts` naming the line."""
    out: dict[str, bool | int | float | str] = {}
    for n, raw in enumerate(text.replace(";", "\n").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip().isidentifier():
            raise ValidationFailed(f"{what}, line {n}: write name = value",
                                   code="invalid_facts")
        out[name.strip()] = _value(value.strip())
    return out


def simulation_input(form: BaseModel, kinds: tuple[str, ...]
                     ) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(step outcomes, signals) for the simulate service from the simulator form."""
    data = form.model_dump()
    steps: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        state = data.get(f"state_{kind}") or ""
        if not state:
            continue  # not filled: the step has not happened
        reasons = [r.strip() for r in str(data.get(f"reasons_{kind}", "")).split(",")
                   if r.strip()]
        steps[kind] = {"state": state, "reasons": reasons,
                       "facts": parse_facts(str(data.get(f"facts_{kind}", "")), kind)}
    return steps, parse_facts(str(data.get("signals", "")), "signals")


def step_kinds(definition: Mapping[str, Any]) -> tuple[str, ...]:
    """The step types the definition's graph uses, in the order of STEP_TYPES."""
    nodes = (definition.get("flow") or {}).get("nodes") or {}
    used = {n.get("type") for n in nodes.values() if isinstance(n, Mapping)}
    return tuple(k for k in STEP_TYPES if k in used)


def issues_of(exc: IdproofError) -> list[dict[str, Any]]:
    """The validator's issues (node, transition, rule, expression) or the error itself."""
    found = exc.extra.get("issues")
    if isinstance(found, list) and found:
        return [dict(i) for i in found if isinstance(i, Mapping)]
    return [{"code": exc.code, "message": exc.detail}]


def issue_text(issue: Mapping[str, Any]) -> str:
    """One issue as a sentence naming where: the node, transition or rule, the expression."""
    where = []
    if issue.get("node"):
        where.append(f"step {issue['node']}")
    if issue.get("transition") is not None:
        where.append(f"transition {int(issue['transition']) + 1}")
    if issue.get("rule"):
        where.append(f"rule {issue['rule']}")
    if issue.get("path"):
        where.append(str(issue["path"]))
    text = (", ".join(where) + ": " if where else "") + str(issue.get("message", ""))
    if issue.get("expression"):
        text += f" (in: {issue['expression']})"
    return text


def blank_definition(title: str) -> dict[str, Any]:
    """A new workflow: a document step, then the end; approve unless a step failed."""
    return {"title": title, "minimum_age": 18, "max_attempts": 3,
            "document": {"types": ["passport", "id_card"], "countries": None,
                         "back_required_for": ["id_card"]},
            "flow": {"start": "doc",
                     "nodes": {"doc": {"type": "document", "next": [{"to": "end"}]},
                               "end": {"type": "end"}},
                     "decision": [{"id": "failed", "action": "decline", "when": "!passed"},
                                  {"id": "ok", "action": "approve", "when": "true"}]}}
