"""CEL parsing for workflow rules: tokens and a syntax tree with character positions."""

from __future__ import annotations

import ast as pyast
import re
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 40  # nesting of the parsed expression
NUMERIC = frozenset({"int", "double"})


class CelError(ValueError):
    """An expression refused: `code` is stable (cel_syntax, cel_unknown_variable,
    cel_unavailable_variable, cel_type, cel_too_costly, cel_unsupported), `position` a
    0-based character offset when known."""

    def __init__(self, code: str, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.position = position



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
            if op == "-" and operand.kind == "lit" and operand.type in NUMERIC:
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
