"""Request and response models of the webhooks API (Pydantic, extra fields forbidden)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# The session lifecycle events; `webhook.test` is sent on request to one endpoint only, and
# may be listed in an endpoint's `event_types` like any other (it changes nothing).
EVENT_TYPES: tuple[str, ...] = (
    "session.created", "session.started", "session.submitted", "session.decided",
    "session.expired", "session.cancelled", "session.erased", "subject.erased", "session.reviewed",
    "security.alert", "screening.match",
)
TEST_EVENT = "webhook.test"
SUBSCRIBABLE: tuple[str, ...] = (*EVENT_TYPES, TEST_EVENT)
EventType = Literal["session.created", "session.started", "session.submitted",
                    "session.decided", "session.expired", "session.cancelled",
                    "session.erased", "subject.erased", "session.reviewed", "security.alert",
                    "screening.match", "webhook.test"]


class CreateEndpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048,
                     description="A public https URL (checked against private, loopback, "
                                 "link-local and metadata addresses)")
    event_types: list[EventType] = Field(min_length=1, max_length=len(SUBSCRIBABLE),
                                         description="The events this endpoint receives")
    description: str | None = Field(None, max_length=200)


class EndpointView(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str | None
    created_at: datetime
    secret_version: int
    previous_secret_expires_at: datetime | None = Field(
        None, description="While set and in the future, the previous secret signs too")


class CreatedEndpoint(EndpointView):
    secret: str = Field(description="The whsec_ signing secret: shown once, store it now")


class EndpointList(BaseModel):
    data: list[EndpointView]


class RotatedSecret(BaseModel):
    id: str
    secret: str = Field(description="The new whsec_ secret: shown once")
    secret_version: int
    previous_secret_expires_at: datetime | None


class AttemptView(BaseModel):
    attempted_at: datetime
    status_code: int | None
    error: str | None = Field(description="timeout, connection_failed, redirect, http_status, "
                                          "url_not_allowed")
    duration_ms: int


class DeliveryView(BaseModel):
    id: str
    endpoint_id: str
    event_id: str = Field(description="The webhook-id header: stable across retries")
    event_type: str
    status: Literal["pending", "delivered", "failed", "cancelled"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[AttemptView]


class DeliveryList(BaseModel):
    data: list[DeliveryView]
