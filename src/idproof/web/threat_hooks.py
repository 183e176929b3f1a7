"""Edge hooks for the security detectors: uploads refused as malformed, counted per IP."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from idproof.auth.http import client_ip, request_id
from idproof.security.uploads import UploadRejected
from idproof.web.problems import problem

if TYPE_CHECKING:
    from idproof.bootstrap import Container

# Refusals that say the file itself is bad (not "busy" or "too big for the limit we set").
MALFORMED = frozenset({"unsupported_image_type", "decompression_bomb", "image_corrupt",
                       "image_too_large", "image_too_small", "upload_too_large"})


def install_threat_hooks(app: FastAPI, container: Container) -> None:
    @app.exception_handler(UploadRejected)
    async def _upload_rejected(request: Request, exc: UploadRejected) -> JSONResponse:
        if exc.code in MALFORMED:
            await run_in_threadpool(container.detectors.malformed_upload,
                                    client_ip(request), None, exc.code)
        return problem(exc.status, exc.code, exc.detail, title=exc.title, headers=exc.headers,
                       request_id=request_id(request), **exc.extra)
