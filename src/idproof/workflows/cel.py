"""CEL for workflow rules: our typed checker and cost bound, evaluation by cel-rust."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cel as _cel

from idproof.workflows.cel_parse import MAX_DEPTH, NUMERIC, CelError, Node, parse

__all__ = ["MAX_DEPTH", "CelError", "CelEvalError", "Compiled", "Env", "Namespace",
           "Node", "compile_expr", "context", "list_of", "parse"]

MAX_LENGTH = 2000  # characters in one expression
COST_LIMIT = 10_000  # the estimated worst-case cost of one expression
LIST_BOUND = 32  # the size assumed for list variables (reasons) when estimating cost
_MATCHES_COST = 50


class CelEvalError(RuntimeError):
    """An expression failed at run time (a missing value, a division by zero)."""


# -- types ---------------------------------------------------------------------------------
# Scalars are "bool", "int", "double", "string"; lists are "list(T)".

def list_of(t: str) -> str:
    return f"list({t})"


def _elem(t: str) -> str | None:
    return t[5:-1] if t.startswith("list(") else None


_NUMERIC = NUMERIC


@dataclass(frozen=True)
class Namespace:
    """A variable with fields (`document`, `face`): `step` is the step that gives it,
    `fields` name their types, `always` the fields known even before it ran (`done`)."""

    step: str
    fields: Mapping[str, str]
    always: frozenset[str] = frozenset({"done"})
    doc: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Env:
    """What an expression may name: scalar variables and namespaces, and the namespaces
    known (their step ran on every path) at the point being checked."""

    scalars: Mapping[str, str]
    namespaces: Mapping[str, Namespace]
    available: frozenset[str]


# -- checking ------------------------------------------------------------------------------
_MACROS = {"exists", "all", "exists_one", "filter", "map"}
_STRING_METHODS = {"contains": 5, "startsWith": 2, "endsWith": 2, "matches": _MATCHES_COST}


@dataclass
class _Checker:
    env: Env
    refs: set[str] = field(default_factory=set)

    def check(self, n: Node, avail: frozenset[str], local: Mapping[str, str]
              ) -> tuple[str, int]:
        """The node's type and its worst-case cost."""
        k = n.kind
        if k == "lit":
            return n.type, 1
        if k == "ident":
            if n.value in local:
                return local[n.value], 1
            if n.value in self.env.scalars:
                self.refs.add(n.value)
                return self.env.scalars[n.value], 1
            if n.value in self.env.namespaces:
                raise CelError("cel_type", f"{n.value} has fields: write {n.value}.<field>",
                               n.pos)
            raise CelError("cel_unknown_variable", f"unknown variable {n.value!r}", n.pos)
        if k == "select":
            return self.select(n, avail), 1
        if k == "list":
            if not n.args:
                raise CelError("cel_type", "an empty list has no type", n.pos)
            typed = [self.check(a, avail, local) for a in n.args]
            first = typed[0][0]
            if any(t != first for t, _ in typed):
                raise CelError("cel_type", "list items must all have one type", n.pos)
            return list_of(first), 1 + sum(c for _, c in typed)
        if k == "index":
            (lt, lc), (it, ic) = (self.check(a, avail, local) for a in n.args)
            elem = _elem(lt)
            if elem is None or it != "int":
                raise CelError("cel_type", "only lists are indexed, by an int", n.pos)
            return elem, 1 + lc + ic
        if k == "unary":
            t, c = self.check(n.args[0], avail, local)
            want = {"bool"} if n.value == "!" else _NUMERIC
            if t not in want:
                raise CelError("cel_type", f"{n.value} needs {' or '.join(sorted(want))}, "
                                           f"not {t}", n.pos)
            return t, c + 1
        if k == "cond":
            ct, cc = self.check(n.args[0], avail, local)
            if ct != "bool":
                raise CelError("cel_type", f"the condition of ?: is {ct}, not bool", n.pos)
            tt, tc = self.check(n.args[1], avail | _guards(n.args[0]), local)
            ft, fc = self.check(n.args[2], avail, local)
            if tt != ft:
                raise CelError("cel_type", f"both branches of ?: must have one type "
                                           f"({tt} vs {ft})", n.pos)
            return tt, 1 + cc + max(tc, fc)
        if k == "binary":
            return self.binary(n, avail, local)
        if k == "call":
            return self.call(n, avail, local)
        raise CelError("cel_unsupported", f"unsupported expression {k}", n.pos)  # pragma: no cover

    def select(self, n: Node, avail: frozenset[str]) -> str:
        base = n.args[0]
        if base.kind != "ident" or base.value not in self.env.namespaces:
            if base.kind == "ident" and base.value not in self.env.scalars:
                raise CelError("cel_unknown_variable", f"unknown variable {base.value!r}",
                               base.pos)
            raise CelError("cel_type", f"{n.value!r} is not a field of this value", n.pos)
        ns = self.env.namespaces[base.value]
        if n.value not in ns.fields:
            raise CelError("cel_unknown_variable", f"unknown variable "
                                                   f"{base.value}.{n.value}", n.pos)
        # Known where its namespace is, or where the step giving it is (`answers` after a
        # `questionnaire.done` guard).
        if n.value not in ns.always and base.value not in avail and ns.step not in avail:
            raise CelError("cel_unavailable_variable",
                           f"{base.value}.{n.value} is not known here: the step giving it "
                           f"has not run on every path (guard with {base.value}.done && ...)",
                           n.pos)
        self.refs.add(f"{base.value}.{n.value}")
        return ns.fields[n.value]

    def binary(self, n: Node, avail: frozenset[str], local: Mapping[str, str]
               ) -> tuple[str, int]:
        op = n.value
        lt, lc = self.check(n.args[0], avail, local)
        right_avail = avail | _guards(n.args[0]) if op == "&&" else avail
        rt, rc = self.check(n.args[1], right_avail, local)
        cost = 1 + lc + rc
        if op in ("&&", "||"):
            if lt != "bool" or rt != "bool":
                raise CelError("cel_type", f"{op} needs bool operands, not {lt} and {rt}",
                               n.pos)
            return "bool", cost
        if op in ("==", "!="):
            if lt != rt and not (lt in _NUMERIC and rt in _NUMERIC):
                raise CelError("cel_type", f"cannot compare {lt} with {rt}", n.pos)
            return "bool", cost
        if op in ("<", "<=", ">", ">="):
            ok = (lt in _NUMERIC and rt in _NUMERIC) or (lt == rt == "string")
            if not ok:
                raise CelError("cel_type", f"cannot order {lt} and {rt}", n.pos)
            return "bool", cost
        if op == "in":
            elem = _elem(rt)
            if elem is None:
                raise CelError("cel_type", f"`in` needs a list on the right, not {rt}", n.pos)
            if elem != lt and not (lt in _NUMERIC and elem in _NUMERIC):
                raise CelError("cel_type", f"cannot look for {lt} in {rt}", n.pos)
            return "bool", cost + _bound(n.args[1])
        if op == "+" and lt == rt and (lt == "string" or _elem(lt) is not None):
            return lt, cost
        if lt in _NUMERIC and lt == rt and (op != "%" or lt == "int"):
            return lt, cost
        hint = " (convert with double() or int())" if {lt, rt} == _NUMERIC else ""
        raise CelError("cel_type", f"{op} is not defined for {lt} and {rt}{hint}", n.pos)

    def call(self, n: Node, avail: frozenset[str], local: Mapping[str, str]
             ) -> tuple[str, int]:
        name = n.value
        if n.target is None:
            if name == "has":
                if len(n.args) != 1 or n.args[0].kind != "select":
                    raise CelError("cel_type", "has() takes a field: has(a.b)", n.pos)
                sel = n.args[0]
                base = sel.args[0]
                if base.kind != "ident" or base.value not in self.env.namespaces:
                    raise CelError("cel_unknown_variable", "has() takes a field of a known "
                                                           "variable", n.pos)
                if sel.value not in self.env.namespaces[base.value].fields:
                    raise CelError("cel_unknown_variable",
                                   f"unknown variable {base.value}.{sel.value}", sel.pos)
                return "bool", 2
            if len(n.args) != 1:
                raise CelError("cel_type", f"{name}() takes one argument", n.pos)
            t, c = self.check(n.args[0], avail, local)
            if name == "size" and (t == "string" or _elem(t) is not None):
                return "int", c + 1
            if name in ("int", "double") and t in {"int", "double", "string"}:
                return name, c + 1
            if name == "string" and t in {"int", "double", "string", "bool"}:
                return "string", c + 1
            if name in ("size", "int", "double", "string"):
                raise CelError("cel_type", f"{name}() is not defined for {t}", n.pos)
            raise CelError("cel_unknown_variable", f"unknown function {name}()", n.pos)
        if name in _MACROS:
            return self.macro(n, avail, local)
        t, c = self.check(n.target, avail, local)
        if name == "size" and not n.args and (t == "string" or _elem(t) is not None):
            return "int", c + 1
        if name in _STRING_METHODS and t == "string" and len(n.args) == 1:
            at, ac = self.check(n.args[0], avail, local)
            if at != "string":
                raise CelError("cel_type", f"{name}() takes a string, not {at}", n.pos)
            return "bool", c + ac + _STRING_METHODS[name]
        raise CelError("cel_type", f"{name}() is not a method of {t}", n.pos)

    def macro(self, n: Node, avail: frozenset[str], local: Mapping[str, str]
              ) -> tuple[str, int]:
        assert n.target is not None
        lt, lc = self.check(n.target, avail, local)
        elem = _elem(lt)
        if elem is None:
            raise CelError("cel_type", f"{n.value}() works on lists, not {lt}", n.pos)
        if len(n.args) != 2 or n.args[0].kind != "ident":
            raise CelError("cel_type", f"{n.value}() takes a variable and an expression: "
                                       f"{n.value}(x, ...)", n.pos)
        var = n.args[0].value
        if var in self.env.scalars or var in self.env.namespaces:
            raise CelError("cel_type", f"{var!r} is a variable already: pick another name",
                           n.args[0].pos)
        bt, bc = self.check(n.args[1], avail, {**local, var: elem})
        if n.value != "map" and bt != "bool":
            raise CelError("cel_type", f"the expression of {n.value}() must be bool, not {bt}",
                           n.args[1].pos)
        cost = lc + 1 + _bound(n.target) * (bc + 1)
        if n.value == "map":
            return list_of(bt), cost
        if n.value == "filter":
            return lt, cost
        return "bool", cost


def _guards(n: Node) -> frozenset[str]:
    """Namespaces a condition proves known: the `x.done` conjuncts of a && chain."""
    if n.kind == "binary" and n.value == "&&":
        return _guards(n.args[0]) | _guards(n.args[1])
    if n.kind == "select" and n.value == "done" and n.args[0].kind == "ident":
        return frozenset({n.args[0].value})
    return frozenset()


def _bound(n: Node) -> int:
    return len(n.args) if n.kind == "list" else LIST_BOUND


# -- compiling and evaluating --------------------------------------------------------------
@dataclass(frozen=True)
class Compiled:
    """A checked expression: its type, worst-case cost, the variables it names, and the
    cel-rust program that evaluates it."""

    source: str
    type: str
    cost: int
    refs: frozenset[str]
    program: Any

    def evaluate(self, activation: Mapping[str, Any]) -> Any:
        try:
            return self.program.execute(_cel.Context(variables=dict(activation)))
        except Exception as exc:  # cel-rust raises several builtin types
            raise CelEvalError(f"{self.source}: {exc}") from None

    def evaluate_in(self, context: Any) -> Any:
        """Evaluate with a prepared `context()` (saves building it per expression)."""
        try:
            return self.program.execute(context)
        except Exception as exc:
            raise CelEvalError(f"{self.source}: {exc}") from None


def context(activation: Mapping[str, Any]) -> Any:
    return _cel.Context(variables=dict(activation))


def compile_expr(src: str, env: Env, *, want: str | None = "bool",
                 cost_limit: int = COST_LIMIT) -> Compiled:
    """Parse, type-check and cost an expression against `env`; raises CelError."""
    if len(src) > MAX_LENGTH:
        raise CelError("cel_too_costly", f"longer than {MAX_LENGTH} characters", MAX_LENGTH)
    if not src.strip():
        raise CelError("cel_syntax", "the expression is empty", 0)
    try:
        program = _cel.compile(src)
    except Exception as exc:  # ValueError from the parser
        text = str(exc).replace("\n", " ")
        m = re.search(r"<input>:\d+:(\d+)", text)
        raise CelError("cel_syntax", text, int(m.group(1)) - 1 if m else None) from None
    checker = _Checker(env)
    t, cost = checker.check(parse(src), env.available, {})
    if want is not None and t != want:
        raise CelError("cel_type", f"the expression is {t}, it must be {want}", 0)
    if cost > cost_limit:
        raise CelError("cel_too_costly", f"estimated cost {cost} is above the limit "
                                         f"{cost_limit}", 0)
    return Compiled(src, t, cost, frozenset(checker.refs), program)


Compile = Callable[[str, Env], Compiled]
