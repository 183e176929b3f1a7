"""Questionnaire steps: questions defined in the workflow, answers checked against them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

QUESTION_ID = r"^[a-z][a-z0-9_]{0,39}$"
MAX_QUESTIONS = 30


class Question(BaseModel):
    """One question. `choice` needs `options`; `checkbox` with `legal_text` is a consent
    whose text is versioned (`legal_version`), and the answer records which version."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={
        "description": "A question of the questionnaire step. Rules read the answer of a "
                       "choice (string: the option) or checkbox (bool) question as "
                       "answers.<id>; text and date answers are stored sealed and are not "
                       "rule variables."})

    id: str = Field(pattern=QUESTION_ID)
    type: Literal["text", "choice", "date", "checkbox"]
    label: str = Field(min_length=1, max_length=300)
    required: bool = True
    options: tuple[str, ...] = Field(default=(), max_length=50)
    max_length: int = Field(200, ge=1, le=2000)
    legal_text: str | None = Field(None, max_length=5000)
    legal_version: str | None = Field(None, max_length=40)

    @model_validator(mode="after")
    def _shape(self) -> Question:
        if self.type == "choice" and len(self.options) < 2:
            raise ValueError("a choice question needs at least two options")
        if self.type != "choice" and self.options:
            raise ValueError("only a choice question has options")
        if (self.legal_text is None) != (self.legal_version is None):
            raise ValueError("legal_text and legal_version go together")
        if self.legal_text is not None and self.type != "checkbox":
            raise ValueError("only a checkbox carries a legal text")
        if len(set(self.options)) != len(self.options):
            raise ValueError("options must be different")
        return self


class AnswerError(ValueError):
    """Answers refused: `problems` maps a question id to what is wrong (never the value)."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.code = "invalid_answers"
        self.problems = dict(problems)


def question_issues(questions: Sequence[Question]) -> list[str]:
    """What is wrong with a question list as a whole (duplicate ids, too many)."""
    out: list[str] = []
    ids = [q.id for q in questions]
    out += [f"question id {d!r} is used twice" for d in sorted({i for i in ids
                                                                 if ids.count(i) > 1})]
    if len(questions) > MAX_QUESTIONS:
        out.append(f"at most {MAX_QUESTIONS} questions")
    if not questions:
        out.append("a questionnaire needs at least one question")
    return out


def _one(q: Question, value: Any) -> tuple[Any, str | None]:
    if q.type == "text":
        if not isinstance(value, str):
            return None, "must be text"
        value = value.strip()
        if len(value) > q.max_length:
            return None, f"at most {q.max_length} characters"
        return value, ("is required" if q.required and not value else None)
    if q.type == "choice":
        return value, (None if isinstance(value, str) and value in q.options
                       else "must be one of the options")
    if q.type == "date":
        try:
            return date.fromisoformat(value).isoformat(), None
        except (TypeError, ValueError):
            return None, "must be a date (YYYY-MM-DD)"
    if not isinstance(value, bool):
        return None, "must be true or false"
    if q.required and not value:
        return None, "must be accepted"
    if q.legal_version is not None:
        return {"accepted": value, "legal_version": q.legal_version}, None
    return value, None


def validate_answers(questions: Sequence[Question], answers: Mapping[str, Any]
                     ) -> dict[str, Any]:
    """The answers, normalised, for exactly these questions; AnswerError otherwise."""
    problems: dict[str, str] = {}
    known = {q.id for q in questions}
    for extra in sorted(set(answers) - known):
        problems[extra[:40]] = "is not a question of this step"
    out: dict[str, Any] = {}
    for q in questions:
        if q.id not in answers or answers[q.id] is None:
            if q.required:
                problems[q.id] = "is required"
            continue
        value, problem = _one(q, answers[q.id])
        if problem is not None:
            problems[q.id] = problem
        else:
            out[q.id] = value
    if problems:
        raise AnswerError(problems)
    return out
