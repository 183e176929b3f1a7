"""`create_app(container)`: the FastAPI application with middleware, routers and handlers."""

from __future__ import annotations

import hmac
import inspect
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from starlette.concurrency import run_in_threadpool

from idproof import __version__
from idproof.audit.log_checkpoints import periodic_checkpoints
from idproof.auth.api import DIRECT_ROUTES, discovery_router, me_router, oauth_router
from idproof.bootstrap import Container
from idproof.console.mount import install as install_console
from idproof.hosted.branding_api import router as branding_router
from idproof.hosted.router import router as hosted_router
from idproof.privacy.api import router as privacy_router
from idproof.privacy.retention_api import router as retention_router
from idproof.screening.api import router as screening_router
from idproof.signals.api import router as signals_router
from idproof.vault.api import router as vault_router
from idproof.verification.api import router as sessions_router
from idproof.verification.biometrics.api import router as biometrics_router
from idproof.web.audit_routes import router as audit_router
from idproof.web.middleware import BodyTooLarge, EdgeMiddleware, body_too_large_handler
from idproof.web.openapi import install_docs, install_openapi
from idproof.web.problems import install_problem_handlers, problem
from idproof.web.threat_hooks import install_threat_hooks
from idproof.webhooks.api import router as webhooks_router
from idproof.workflows.api import router as workflows_router
from idproof.workflows.steps_api import router as workflow_steps_router

DESCRIPTION = """\
idproof verifies that your users are real people holding real identity documents.

Authenticate with the OAuth2 client-credentials grant at `POST /oauth/token`, then call the
`/v1` API with `Authorization: Bearer <token>`. Every error is RFC 9457
`application/problem+json` with a stable `code` (the `Problem` schema). The events sent to
your webhook endpoints are under `webhooks`.
"""


# Every feature's router, in the order the OpenAPI document lists them.
ROUTERS = (oauth_router, discovery_router, me_router, vault_router, audit_router,
           sessions_router, biometrics_router, hosted_router, branding_router, webhooks_router,
           workflows_router, workflow_steps_router, privacy_router, retention_router,
           screening_router, signals_router)


# FastAPI 0.16x traces and measures every request through OpenTelemetry as soon as a global
# provider is set (by any library in the process), and asks whether one is on every request.
# idproof's own metrics carry no identifiers and its logs are filtered for personal data;
# spans would send each request's path and client address wherever that provider exports.
_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {})


def create_app(container: Container, *, direct_routes: bool = True) -> FastAPI:
    """The app. `direct_routes=False` leaves every request to the router (for the tests that
    compare the edge's direct routes with the FastAPI routes they stand for)."""
    settings = container.settings
    app = FastAPI(title="idproof", version=__version__, description=DESCRIPTION,
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json", **_NO_TELEMETRY,
                  # Signed audit checkpoints every M seconds while serving.
                  lifespan=lambda _: periodic_checkpoints(container.audit_log, container.clock))
    app.state.container = container
    # /docs and /redoc from vendored assets; OAuth2 scopes, problem+json errors, webhooks.
    install_openapi(app)
    install_docs(app)
    install_problem_handlers(app)
    install_threat_hooks(app, container)
    app.add_exception_handler(BodyTooLarge, body_too_large_handler)
    registry = CollectorRegistry()
    app.state.metrics_registry = registry
    app.add_middleware(EdgeMiddleware, trusted_proxies=tuple(settings.security.trusted_proxies),
                       max_body_bytes=settings.security.max_body_bytes, guard=container.guard,
                       hsts=True, public_https=settings.public_url.startswith("https://"),
                       on_response=_status_counter(registry),
                       direct_routes=DIRECT_ROUTES if direct_routes else None)
    _platform_routes(app, container, registry)
    for router in ROUTERS:
        app.include_router(router)
    install_console(app)
    return app


def _status_counter(registry: CollectorRegistry) -> Callable[[int], None]:
    """Counts responses by status class only: paths can carry identifiers, and labels must
    not. The children are bound once: `labels()` per request costs more than the count."""
    requests_total = Counter("idproof_http_requests_total", "HTTP requests by status class",
                             ["status_class"], registry=registry)
    by_class = {c: requests_total.labels(f"{c}xx") for c in range(1, 6)}

    def count(status: int) -> None:
        child = by_class.get(status // 100)
        (child if child is not None else requests_total.labels(f"{status // 100}xx")).inc()

    return count


def _platform_routes(app: FastAPI, container: Container, registry: CollectorRegistry) -> None:
    """Health, readiness and metrics."""
    settings = container.settings

    @app.get("/healthz", tags=["platform"], summary="Liveness: the process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["platform"], summary="Readiness: the database answers")
    async def readyz(request: Request) -> Response:
        if await run_in_threadpool(container.db.ping):
            return JSONResponse({"status": "ready"})
        return problem(503, "database_unavailable", "the database does not answer")

    @app.get("/metrics", tags=["platform"], summary="Prometheus metrics",
             include_in_schema=False)
    def metrics(request: Request) -> Response:
        # Not public: only with the operator's metrics token, and absent without one. A wrong
        # token is not a client authentication, so it counts toward no brute-force block.
        token = settings.metrics.token
        if token is None:
            return problem(404, "not_found", "no such resource")
        presented = request.headers.get("authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            return problem(401, "metrics_auth_required", "send the metrics bearer token",
                           headers={"WWW-Authenticate": 'Bearer realm="idproof-metrics"'})
        # The security alert counter lives with the alerts (labels: kind only).
        body = generate_latest(registry) + generate_latest(container.alerts.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` (several workers): settings from the environment."""
    from idproof.bootstrap import build_container, start_background_services
    from idproof.config import load_settings
    from idproof.core.logging import configure_logging

    settings = load_settings()
    configure_logging(settings.logging.level, settings.logging.pii_fields,
                      settings.logging.json_logs)
    container = build_container(settings)
    from idproof.web.heap import freeze_startup_heap

    # Each worker only queues its events when the serve process runs the sequencer; with
    # `background`, one of the workers is elected.
    start_background_services(container, serving=True)
    app = create_app(container)
    freeze_startup_heap()
    return app
