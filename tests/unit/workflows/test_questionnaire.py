"""Questionnaire steps: question definitions refused when malformed, answers validated."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from idproof.workflows.steps.questionnaire import (
    AnswerError,
    Question,
    question_issues,
    validate_answers,
)

QS = (
    Question(id="occupation", type="text", label="Occupation", max_length=20),
    Question(id="source", type="choice", label="Source of funds",
             options=("salary", "savings", "other")),
    Question(id="start", type="date", label="Start date", required=False),
    Question(id="terms", type="checkbox", label="I accept", legal_text="The terms ...",
             legal_version="2026-01"),
)


def test_valid_answers_are_normalised_and_consent_records_its_version() -> None:
    out = validate_answers(QS, {"occupation": " baker ", "source": "salary",
                                "start": "2026-02-01", "terms": True})
    assert out == {"occupation": "baker", "source": "salary", "start": "2026-02-01",
                   "terms": {"accepted": True, "legal_version": "2026-01"}}
    assert "start" not in validate_answers(QS, {"occupation": "x", "source": "other",
                                                "terms": True})


def test_every_wrong_answer_is_named_without_its_value() -> None:
    with pytest.raises(AnswerError) as exc:
        validate_answers(QS, {"occupation": "y" * 21, "source": "lottery",
                              "start": "01/02/2026", "terms": False, "ssn": "123-45-6789"})
    assert exc.value.problems == {
        "occupation": "at most 20 characters", "source": "must be one of the options",
        "start": "must be a date (YYYY-MM-DD)", "terms": "must be accepted",
        "ssn": "is not a question of this step"}
    assert "lottery" not in str(exc.value) and "123-45" not in str(exc.value)


@pytest.mark.parametrize("answers", [{}, {"occupation": "  ", "source": "salary", "terms": True},
                                     {"occupation": 5, "source": "salary", "terms": True},
                                     {"occupation": "x", "source": "salary", "terms": "yes"}])
def test_missing_or_mistyped_answers(answers: dict[str, object]) -> None:
    with pytest.raises(AnswerError):
        validate_answers(QS, answers)


@pytest.mark.parametrize("bad", [
    {"id": "a", "type": "choice", "label": "x", "options": ["only"]},
    {"id": "a", "type": "text", "label": "x", "options": ["a", "b"]},
    {"id": "a", "type": "checkbox", "label": "x", "legal_text": "t"},
    {"id": "a", "type": "text", "label": "x", "legal_text": "t", "legal_version": "1"},
    {"id": "a", "type": "choice", "label": "x", "options": ["a", "a"]},
    {"id": "A", "type": "text", "label": "x"},
    {"id": "a", "type": "slider", "label": "x"},
    {"id": "a", "type": "text", "label": "x", "colour": "red"},
])
def test_malformed_questions_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Question.model_validate(bad)


def test_question_list_issues() -> None:
    q = Question(id="a", type="text", label="x")
    assert question_issues([q, q]) == ["question id 'a' is used twice"]
    assert question_issues([]) == ["a questionnaire needs at least one question"]
    assert question_issues(QS) == []
