"""Mounts the whole console: the sign-in pages (operators) and the work pages (console)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

# Importing the pages registers them on the console router, each with its policy; it lives
# here, above both packages, so that operators never imports the console built on it.
import idproof.console.assets
import idproof.console.audit_pages
import idproof.console.branding_pages
import idproof.console.clients_pages
import idproof.console.insights
import idproof.console.pages
import idproof.console.security_alerts
import idproof.console.settings_pages
import idproof.console.webhooks_pages
import idproof.console.workflow_tools
import idproof.console.workflows_pages  # noqa: F401
from idproof.console.api import router as analytics_router
from idproof.operators.router import ConsoleExit, router
from idproof.screening import console_review as _screening_review  # noqa: F401


def install(app: FastAPI) -> None:
    """Mount the console and its early-exit handler."""

    async def _exit(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConsoleExit)
        return exc.response

    app.add_exception_handler(ConsoleExit, _exit)
    app.include_router(router)
    app.include_router(analytics_router)
