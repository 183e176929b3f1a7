"""Built-in workflow definitions, shipped as versioned data in the package and validated."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from idproof.workflows.flow import RUNNABLE_STEPS, Flow, linear_flow

Step = Literal["document", "selfie", "liveness", "email", "phone", "questionnaire",
               "screening"]
DocumentType = Literal["passport", "id_card", "driving_licence", "residence_permit", "visa"]


class DocumentPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    types: tuple[DocumentType, ...]
    countries: tuple[str, ...] | None = None  # ISO 3166-1 alpha-3 / ICAO codes; None = any
    back_required_for: tuple[DocumentType, ...] = ()


class FacePolicy(BaseModel):
    """Face match settings: the distance threshold between 128-D dlib embeddings, calibrated
    for the false match rate the workflow accepts (see docs/api/biometrics.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match_threshold: float = Field(default=0.5, gt=0.0, lt=1.5)


class Rules(BaseModel):
    """Which reason codes decline a session and which send it to manual review."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decline: tuple[str, ...] = ()
    review: tuple[str, ...] = ()


class Workflow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,48}$")
    version: int = Field(ge=1)
    title: str
    steps: tuple[Step, ...] = Field(min_length=1)
    minimum_age: int = Field(ge=0, le=99)
    max_attempts: int = Field(ge=1, le=10)
    # A session begun and then left alone this long is `abandoned` (with its webhook).
    inactivity_minutes: int = Field(default=60, ge=1, le=10_080)
    document: DocumentPolicy
    face: FacePolicy = FacePolicy()
    # Built-ins decide by reason lists; a tenant's workflow by its graph and CEL rules.
    rules: Rules = Rules()
    flow: Flow | None = None

    @model_validator(mode="before")
    @classmethod
    def _steps_of_flow(cls, data: Any) -> Any:
        """A graph's capturable steps, in graph order, are the workflow's steps."""
        if isinstance(data, dict) and data.get("flow") is not None:
            flow = data["flow"] if isinstance(data["flow"], Flow) else Flow.model_validate(
                data["flow"])
            data = {**data, "flow": flow,
                    "steps": tuple(s for s in flow.step_order() if s in RUNNABLE_STEPS)}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Workflow:
        if "document" not in self.steps and any(s in self.steps for s in ("selfie",)):
            raise ValueError("a selfie is matched against a document: add the document step")
        if set(self.rules.decline) & set(self.rules.review):
            raise ValueError("a reason code cannot both decline and send to review")
        return self

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def as_template(self) -> Workflow:
        """This workflow as a graph with CEL rules that decide exactly as its reason lists:
        what a tenant copies to start their own."""
        if self.flow is not None:
            return self
        flow = linear_flow(self.steps, self.rules.decline, self.rules.review)
        return self.model_copy(update={"flow": flow, "rules": Rules()})


@lru_cache(maxsize=1)
def builtin_workflows() -> dict[str, Workflow]:
    out: dict[str, Workflow] = {}
    folder = resources.files("idproof.workflows") / "definitions"
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            wf = Workflow.model_validate(json.loads(entry.read_text()))
            out[wf.id] = wf
    return out


def get_workflow(workflow_id: str) -> Workflow | None:
    return builtin_workflows().get(workflow_id)
