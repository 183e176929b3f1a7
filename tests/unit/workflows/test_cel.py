"""The rule language: a table of expressions with their results, and of refusals with codes."""

from __future__ import annotations

from typing import Any

import pytest

from idproof.workflows.cel import COST_LIMIT, CelError, CelEvalError, compile_expr
from idproof.workflows.flow import Flow, FlowNode, Outcome, activation, env_at

ALL = env_at(frozenset({"document", "selfie", "liveness", "email", "phone"}))
DOC_ONLY = env_at(frozenset({"document"}))
FLOW = Flow(start="document", nodes={
    "document": FlowNode(type="document", next=({"to": "selfie"},)),  # type: ignore[arg-type]
    "selfie": FlowNode(type="selfie", next=({"to": "end"},)),  # type: ignore[arg-type]
    "end": FlowNode(type="end")})
VALUES = activation(FLOW, ["document", "selfie", "end"], {
    "document": Outcome("passed", (), {"document_valid": True, "issuing_country": "DEU",
                                        "age": 30, "document_type": "passport"}),
    "selfie": Outcome("failed", ("face_mismatch",), {"face_match": False,
                                                      "face_score": 0.51})},
    {"ip_country": "FRA"})

RESULTS: list[tuple[str, Any]] = [
    ('document.issuing_country in ["DEU", "FRA"] && document.age >= 21', True),
    ("face.score < 0.55", True),
    ("face.score > 0.45 && face.score < 0.55", True),
    ("signals.ip_country != document.issuing_country", True),
    ("document.valid && !selfie.passed", True),
    ('reasons.exists(r, r in ["face_mismatch", "underage"])', True),
    ('reasons.all(r, r.startsWith("face"))', True),
    ("size(reasons) == 1", True),
    ("passed", False),
    ('document.type == "passport" ? document.age > 18 : false', True),
    ("liveness.done", False),
    ("liveness.done && liveness.passed", False),
    ("document.age + 1 == 31", True),
    ("double(document.age) / 2.0 > 14.9", True),
    ("face.score < 1", True),  # ordering mixes int and double, as CEL does
    ('document.issuing_country.matches("^D")', True),
    ('[1, 2, 3].filter(x, x > 1).size() == 2', True),
    ('[1, 2, 3].map(x, x * 2)[2] == 6', True),
    ('string(document.age) + "y" == "30y"', True),
    ("has(document.age)", True),
    ("-document.age < 0", True),
]


@pytest.mark.parametrize(("expr", "expected"), RESULTS)
def test_results(expr: str, expected: Any) -> None:
    compiled = compile_expr(expr, ALL)
    assert compiled.evaluate(VALUES) == expected


REFUSALS: list[tuple[str, str, int | None]] = [
    ("document.age >=", "cel_syntax", 15),
    ("(document.age", "cel_syntax", None),
    ("", "cel_syntax", 0),
    ("foo == 1", "cel_unknown_variable", 0),
    ("document.colour == 'red'", "cel_unknown_variable", 9),
    ("unknownfn(1)", "cel_unknown_variable", 0),
    ("document.age", "cel_type", 0),  # not bool
    ('document.age == "30"', "cel_type", 13),
    ("document.age + 1.5 > 2.0", "cel_type", 13),
    ("document.valid && 1", "cel_type", 15),
    ("!document.age", "cel_type", 0),
    ("document.valid ? 1 : 'a'", "cel_type", 15),
    ("document", "cel_type", 0),
    ("[1, 'a'].size() > 0", "cel_type", 0),
    ("reasons.exists(r, r)", "cel_type", 18),
    ("reasons.exists(reasons, true)", "cel_type", 15),
    ("1u == 1u", "cel_unsupported", 0),
    ("{'a': 1}.size() > 0", "cel_unsupported", 0),
    ("document.issuing_country == null", "cel_unsupported", 28),
    ("reasons.exists(a, reasons.exists(b, reasons.exists(c, a == b && b == c)))",
     "cel_too_costly", 0),
    ("x" * 3000, "cel_too_costly", None),
    ("(" * 60 + "true" + ")" * 60, "cel_too_costly", None),
]


@pytest.mark.parametrize(("expr", "code", "position"), REFUSALS)
def test_refusals(expr: str, code: str, position: int | None) -> None:
    with pytest.raises(CelError) as exc:
        compile_expr(expr, ALL)
    assert exc.value.code == code, exc.value.message
    if position is not None:
        assert exc.value.position == position


def test_variables_of_a_step_not_run_everywhere_are_refused_unless_guarded() -> None:
    with pytest.raises(CelError) as exc:
        compile_expr("face.score < 0.55", DOC_ONLY)
    assert exc.value.code == "cel_unavailable_variable"
    assert "face.score" in exc.value.message
    compile_expr("face.done && face.score < 0.55", DOC_ONLY)
    compile_expr("face.done ? face.score < 0.55 : true", DOC_ONLY)
    compile_expr("has(face.score)", DOC_ONLY)
    compile_expr("signals.ip_country == 'DEU'", env_at(frozenset()))


def test_cost_is_bounded() -> None:
    listed = ", ".join(f'"r{i}"' for i in range(20))
    cheap = compile_expr(f"reasons.exists(r, r in [{listed}])", ALL)
    assert cheap.cost <= COST_LIMIT
    with pytest.raises(CelError) as exc:
        compile_expr(f"reasons.exists(r, r in [{listed}])", ALL, cost_limit=100)
    assert exc.value.code == "cel_too_costly"


def test_evaluation_errors_are_reported() -> None:
    compiled = compile_expr("document.age / 0 > 1", ALL)
    with pytest.raises(CelEvalError):
        compiled.evaluate(VALUES)
    missing = compile_expr("document.nationality == 'DEU'", ALL)
    with pytest.raises(CelEvalError):
        missing.evaluate(VALUES)
