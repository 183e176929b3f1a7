"""The rule language: a table of expressions with their results, and of refusals with codes."""

from __future__ import annotations

from typing import Any

import pytest

from idproof.workflows.cel import COST_LIMIT, CelError, CelEvalError, compile_expr
from idproof.workflows.flow import Flow, FlowNode, Outcome, activation, env_at
from idproof.workflows.variables import answers_namespace

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


# -- the questionnaire's answers: `answers.<question id>`, typed from the questions --------
QUIZ = Flow(start="document", nodes={
    "document": FlowNode(type="document", next=({"to": "quiz"},)),  # type: ignore[arg-type]
    "quiz": FlowNode(type="questionnaire", next=({"to": "end"},),  # type: ignore[arg-type]
                     questions=(
                         {"id": "pep", "type": "choice", "label": "PEP?",  # type: ignore[arg-type]
                          "options": ("yes", "no")},
                         {"id": "source", "type": "choice", "label": "Funds",  # type: ignore[arg-type]
                          "options": ("salary", "savings", "other"), "required": False},
                         {"id": "terms", "type": "checkbox", "label": "Terms",  # type: ignore[arg-type]
                          "legal_text": "…", "legal_version": "v1"},
                         {"id": "news", "type": "checkbox", "label": "News",  # type: ignore[arg-type]
                          "required": False},
                         {"id": "job", "type": "text", "label": "Job"},  # type: ignore[arg-type]
                         {"id": "born", "type": "date", "label": "Born"})),  # type: ignore[arg-type]
    "end": FlowNode(type="end")})
ANSWERS_NS = {"answers": answers_namespace(QUIZ.questions())}
WITH_QUIZ = env_at(frozenset({"document", "questionnaire"}), ANSWERS_NS)
BEFORE_QUIZ = env_at(frozenset({"document"}), ANSWERS_NS)
QUIZ_VALUES = activation(QUIZ, ["document", "quiz", "end"], {
    "document": Outcome("passed", (), {"age": 30}),
    # as the step records them: a legal checkbox keeps its version; `source` left out
    "questionnaire": Outcome("passed", (), {"answers": {
        "pep": "no", "terms": {"accepted": True, "legal_version": "v1"}, "news": False}})})

ANSWER_RESULTS: list[tuple[str, Any]] = [
    ('answers.pep == "no"', True),
    ('answers.pep in ["yes"]', False),
    ("answers.terms", True),
    ("answers.terms && !answers.news", True),
    ('answers.source == ""', True),  # an optional question left out: its type's default
    ('answers.pep == "no" && document.age >= 21', True),
    ('size(answers.source) == 0 ? true : answers.source != "other"', True),
]


@pytest.mark.parametrize(("expr", "expected"), ANSWER_RESULTS)
def test_answer_results(expr: str, expected: Any) -> None:
    assert compile_expr(expr, WITH_QUIZ).evaluate(QUIZ_VALUES) == expected


ANSWER_REFUSALS: list[tuple[str, Any, str]] = [
    ("answers.job == 'baker'", WITH_QUIZ, "cel_unknown_variable"),  # text stays sealed
    ("answers.born < '2000-01-01'", WITH_QUIZ, "cel_unknown_variable"),  # so does a date
    ("answers.colour == 'red'", WITH_QUIZ, "cel_unknown_variable"),
    ("answers.terms == 'yes'", WITH_QUIZ, "cel_type"),
    ("answers.pep", WITH_QUIZ, "cel_type"),  # a string, not bool
    ("answers", WITH_QUIZ, "cel_type"),
    ('answers.pep == "no"', BEFORE_QUIZ, "cel_unavailable_variable"),
    ('answers.pep == "no"', ALL, "cel_unknown_variable"),  # a flow without a questionnaire
]


@pytest.mark.parametrize(("expr", "env", "code"), ANSWER_REFUSALS)
def test_answer_refusals(expr: str, env: Any, code: str) -> None:
    with pytest.raises(CelError) as exc:
        compile_expr(expr, env)
    assert exc.value.code == code, exc.value.message


def test_answers_are_known_after_a_questionnaire_done_guard() -> None:
    compile_expr('questionnaire.done && answers.pep == "yes"', BEFORE_QUIZ)
    compile_expr('questionnaire.done ? answers.terms : false', BEFORE_QUIZ)
    before = activation(QUIZ, ["document", "quiz", "end"], {
        "document": Outcome("passed", (), {"age": 30})})
    assert compile_expr('questionnaire.done && answers.pep == "yes"',
                        BEFORE_QUIZ).evaluate(before) is False
