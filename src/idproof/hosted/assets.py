"""The web SDK (`/sdk/idproof.js`) and the hosted pages' own script and stylesheet."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

ASSETS = {"hosted.js": "application/javascript; charset=utf-8",
          "capture.js": "application/javascript; charset=utf-8",
          "liveness.js": "application/javascript; charset=utf-8",
          "hosted.css": "text/css; charset=utf-8"}

router = APIRouter(include_in_schema=False)


@router.get("/sdk/idproof.js")
def sdk() -> Response:
    body = (resources.files("idproof.hosted") / "static" / "idproof.js").read_bytes()
    return Response(body, media_type="application/javascript; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=300",
                             "Cross-Origin-Resource-Policy": "cross-origin"})


@router.get("/verify/assets/{name}")
def asset(name: str) -> Response:
    if name not in ASSETS:
        return Response(status_code=404)
    body = (resources.files("idproof.hosted") / "static" / name).read_bytes()
    return Response(body, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})
