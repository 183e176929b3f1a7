"""Mounts the whole console: the sign-in pages (operators) and the work pages (console)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

# Importing the pages registers them on the console router, each with its policy; it lives
# here, above both packages, so that operators never imports the console built on it.
import idproof.console.pages
import idproof.console.security_alerts  # noqa: F401
from idproof.console.api import router as analytics_router
from idproof.operators.router import ConsoleExit, router


def install(app: FastAPI) -> None:
    """Mount the console and its early-exit handler."""

    async def _exit(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConsoleExit)
        return exc.response

    app.add_exception_handler(ConsoleExit, _exit)
    app.include_router(router)
    app.include_router(analytics_router)
