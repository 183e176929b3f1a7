"""CEL for workflow rules: our typed checker and cost bound, evaluation by cel-rust."""

from __future__ import annotations

import ast as pyast
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cel as _cel

MAX_LENGTH = 2000  # characters in one expression
MAX_DEPTH = 40  # nesting of the parsed expression
COST_LIMIT = 10_000  # the estimated worst-case cost of one expression
LIST_BOUND = 32  # the size assumed for list variables (reasons) when estimating cost
_MATCHES_COST = 50


class CelError(ValueError):
    """An expression refused: `code` is stable (cel_syntax, cel_unknown_variable,
    cel_unavailable_variable, cel_type, cel_too_costly, cel_unsupported), `position` a
    0-based character offset when known."""

    def __init__(self, code: str, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.position = position


class CelEvalError(RuntimeError):
    """An expression failed at run time (a missing value, a division by zero)."""


# -- types ---------------------------------------------------------------------------------
# Scalars are "bool", "int", "double", "string"; lists are "list(T)".

def list_of(t: str) -> str:
    return f"list({t})"


def _elem(t: str) -> str | None:
    return t[5:-1] if t.startswith("list(") else None


_NUMERIC = {"int", "double"}


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


# -- parsing -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    kind: str  # lit, ident, select, index, call, unary, binary, cond, list
    pos: int
    value: Any = None  # literal value, identifier, field, operator or function name
    args: tuple[Node, ...] = ()
    target: Node | None = None  # the receiver of a method call
    type: str = ""  # literal type


_TOKEN = re.compile(r"""\s*(?:
    (?P<float>\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
  | (?P<int>\d+)(?P<unsigned>[uU])?
  | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/%<>!?:.,()\[\]{}])
)""", re.VERBOSE)
_RESERVED = {"true", "false", "null", "in"}
_RELATIONS = {"==", "!=", "<", "<=", ">", ">=", "in"}


def _tokenize(src: str) -> list[tuple[str, Any, int]]:
    out: list[tuple[str, Any, int]] = []
    i = 0
    while i < len(src):
        if src[i:].strip() == "":
            break
        m = _TOKEN.match(src, i)
        if m is None or m.end() == i:
            start = i + len(src[i:]) - len(src[i:].lstrip())
            raise CelError("cel_syntax", f"unexpected character {src[start]!r}", start)
        pos = m.start() + len(m.group(0)) - len(m.group(0).lstrip())
        if m.group("float") is not None:
            out.append(("lit", (float(m.group("float")), "double"), pos))
        elif m.group("int") is not None:
            if m.group("unsigned"):
                raise CelError("cel_unsupported", "unsigned integers are not supported", pos)
            out.append(("lit", (int(m.group("int")), "int"), pos))
        elif m.group("str") is not None:
            out.append(("lit", (pyast.literal_eval(m.group("str")), "string"), pos))
        elif m.group("id") is not None:
            word = m.group("id")
            if word in ("true", "false"):
                out.append(("lit", (word == "true", "bool"), pos))
            elif word == "null":
                raise CelError("cel_unsupported", "null is not supported: test `done` or "
                                                  "has()", pos)
            elif word == "in":
                out.append(("op", "in", pos))
            else:
                out.append(("id", word, pos))
        else:
            out.append(("op", m.group("op"), pos))
        i = m.end()
    out.append(("eof", None, len(src)))
    return out


class _Parser:
    def __init__(self, src: str) -> None:
        self.toks = _tokenize(src)
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, Any, int]:
        return self.toks[self.i]

    def take(self) -> tuple[str, Any, int]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, op: str) -> int:
        kind, val, pos = self.take()
        if kind != "op" or val != op:
            raise CelError("cel_syntax", f"expected {op!r}", pos)
        return pos

    def is_op(self, *ops: str) -> bool:
        kind, val, _ = self.peek()
        return kind == "op" and val in ops

    def parse(self) -> Node:
        node = self.expr()
        kind, _, pos = self.peek()
        if kind != "eof":
            raise CelError("cel_syntax", "unexpected text after the expression", pos)
        return node

    def expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise CelError("cel_too_costly", f"nested deeper than {MAX_DEPTH}", self.peek()[2])
        cond = self.binary(0)
        if self.is_op("?"):
            pos = self.take()[2]
            then = self.expr()
            self.expect(":")
            other = self.expr()
            cond = Node("cond", pos, args=(cond, then, other))
        self.depth -= 1
        return cond

    _LEVELS: tuple[frozenset[str], ...] = (
        frozenset({"||"}), frozenset({"&&"}), frozenset(_RELATIONS),
        frozenset({"+", "-"}), frozenset({"*", "/", "%"}))

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.is_op(*self._LEVELS[level]):
            _, op, pos = self.take()
            right = self.binary(level + 1)
            left = Node("binary", pos, op, (left, right))
        return left

    def unary(self) -> Node:
        if self.is_op("!", "-"):
            _, op, pos = self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise CelError("cel_too_costly", f"nested deeper than {MAX_DEPTH}", pos)
            operand = self.unary()
            self.depth -= 1
            if op == "-" and operand.kind == "lit" and operand.type in _NUMERIC:
                return Node("lit", pos, -operand.value, type=operand.type)
            return Node("unary", pos, op, (operand,))
        return self.member()

    def member(self) -> Node:
        node = self.primary()
        while True:
            if self.is_op("."):
                self.take()
                kind, name, pos = self.take()
                if kind != "id":
                    raise CelError("cel_syntax", "expected a field or method name", pos)
                if self.is_op("("):
                    node = Node("call", pos, name, self.call_args(), target=node)
                else:
                    node = Node("select", pos, name, (node,))
            elif self.is_op("["):
                pos = self.take()[2]
                index = self.expr()
                self.expect("]")
                node = Node("index", pos, None, (node, index))
            else:
                return node

    def call_args(self) -> tuple[Node, ...]:
        self.expect("(")
        args: list[Node] = []
        if not self.is_op(")"):
            args.append(self.expr())
            while self.is_op(","):
                self.take()
                args.append(self.expr())
        self.expect(")")
        return tuple(args)

    def primary(self) -> Node:
        kind, val, pos = self.take()
        if kind == "lit":
            return Node("lit", pos, val[0], type=val[1])
        if kind == "id":
            if self.is_op("("):
                return Node("call", pos, val, self.call_args())
            return Node("ident", pos, val)
        if kind == "op" and val == "(":
            node = self.expr()
            self.expect(")")
            return node
        if kind == "op" and val == "[":
            items: list[Node] = []
            if not self.is_op("]"):
                items.append(self.expr())
                while self.is_op(","):
                    self.take()
                    if self.is_op("]"):
                        break
                    items.append(self.expr())
            self.expect("]")
            return Node("list", pos, None, tuple(items))
        if kind == "op" and val == "{":
            raise CelError("cel_unsupported", "map literals are not supported", pos)
        if kind == "eof":
            raise CelError("cel_syntax", "the expression ends too early", pos)
        raise CelError("cel_syntax", f"unexpected {val!r}", pos)


def parse(src: str) -> Node:
    return _Parser(src).parse()


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
        if n.value not in ns.always and base.value not in avail:
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
