"""The console's own static files: vendored uPlot and Drawflow, and our own scripts."""

from __future__ import annotations

from importlib import resources

from fastapi.responses import Response

from idproof.operators.router import PUBLIC, route

# A fixed list: no path from the request ever reaches the file system.
STATIC = {"uPlot.iife.min.js": "application/javascript; charset=utf-8",
          "uPlot.min.css": "text/css; charset=utf-8",
          "charts.js": "application/javascript; charset=utf-8",
          "uPlot.LICENSE.txt": "text/plain; charset=utf-8",
          "drawflow.min.js": "application/javascript; charset=utf-8",
          "drawflow.min.css": "text/css; charset=utf-8",
          "drawflow.LICENSE.txt": "text/plain; charset=utf-8",
          "workflow_builder.js": "application/javascript; charset=utf-8",
          "workflow_builder.css": "text/css; charset=utf-8",
          "audit_proofs.js": "application/javascript; charset=utf-8"}


@route("GET", "/console/static/{name}", PUBLIC)
def console_static(name: str) -> Response:
    if name not in STATIC:
        return Response(status_code=404)
    body = (resources.files("idproof.console") / "static" / name).read_bytes()
    return Response(body, media_type=STATIC[name],
                    headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})
