"""What the webhook use cases share: settings, sealed secrets, owned endpoints, queueing."""

from __future__ import annotations

import os
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import structlog
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from idproof.audit.service import AuditService
from idproof.core.clock import Clock
from idproof.core.errors import NotFound
from idproof.core.tasks import TaskQueue
from idproof.db.after_commit import after_commit
from idproof.db.engine import Database
from idproof.db.tenancy import get_owned
from idproof.webhooks.models import (
    WebhookEndpoint,
)
from idproof.webhooks.ssrf import Resolver

log = structlog.get_logger("idproof.webhooks")

MAX_ENDPOINTS_PER_TENANT = 20
# How long a claimed attempt holds its delivery beyond its deadline: a worker killed
# mid-attempt releases it when the lease runs out and the sweep queues it again.
_LEASE_MARGIN = timedelta(seconds=60)

# The delivery task: one attempt at one delivery (args: delivery id).
DELIVER_WEBHOOK = "deliver_webhook"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who manages webhooks: an API client of a tenant, or a console operator (actor_type
    "operator", client_id then the operator's id): the audit log names which."""

    tenant_id: str
    client_id: str | None = None
    ip: str | None = None
    request_id: str | None = None
    actor_type: str = "client"


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")



class WebhookBase:
    """State and helpers shared by the endpoint, outbox and delivery parts of the service."""

    _db: Database
    _audit: AuditService
    _aead: AESGCM
    allow_private_networks: bool
    _timeout: float
    _deadline: float
    _schedule: tuple[float, ...]
    _grace: timedelta
    _sweep_batch: int
    _retention: timedelta
    _clock: Clock
    _resolver: Resolver
    _wall: Callable[[], float]
    _rng: random.SystemRandom
    _tls: ssl.SSLContext | None
    _tasks: TaskQueue

    # -- secrets ---------------------------------------------------------------------------
    def _seal(self, endpoint_id: str, version: int, secret: str) -> bytes:
        nonce = os.urandom(12)
        aad = f"webhook-secret|{endpoint_id}|{version}".encode()
        return nonce + self._aead.encrypt(nonce, secret.encode(), aad)

    def _unseal(self, endpoint_id: str, version: int, blob: bytes) -> str:
        aad = f"webhook-secret|{endpoint_id}|{version}".encode()
        return self._aead.decrypt(blob[:12], blob[12:], aad).decode()

    def _signing_secrets(self, ep: WebhookEndpoint, now: datetime) -> list[str]:
        out = [self._unseal(ep.id, ep.secret_version, ep.secret_sealed)]
        if (ep.previous_secret_sealed is not None and ep.previous_secret_expires_at is not None
                and ep.previous_secret_expires_at > now):
            out.append(self._unseal(ep.id, ep.secret_version - 1, ep.previous_secret_sealed))
        return out


    def _owned(self, s: Session, tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
        ep = get_owned(s, WebhookEndpoint, endpoint_id, tenant_id,
                       code="webhook_endpoint_not_found")
        if ep.deleted_at is not None:
            raise NotFound("not found", code="webhook_endpoint_not_found")
        return ep


    def _after_commit(self, s: Session, items: list[tuple[str, float]]) -> None:
        """Queue deliveries once `s` commits (never before: the worker must find the rows)."""
        for delivery_id, delay in items:
            after_commit(s, partial(self._enqueue, delivery_id, delay))

    def _enqueue(self, delivery_id: str, delay: float) -> None:
        self._tasks.enqueue(DELIVER_WEBHOOK, delivery_id, delay=delay)

