"""`/v1/branding`: the tenant's look on the hosted pages (scope branding.manage), and the
stylesheet and logo the pages load from our own origin."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from idproof.auth.http import get_container, require_scopes
from idproof.core.errors import NotFound
from idproof.core.principal import Principal
from idproof.hosted.branding import BrandingService
from idproof.hosted.branding_rules import LOGO_MAX_BYTES, BrandingIn, brand_css

router = APIRouter(prefix="/v1/branding", tags=["branding"])
assets = APIRouter(include_in_schema=False)
Manage = Annotated[Principal, Depends(require_scopes("branding.manage"))]
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable",
              "X-Content-Type-Options": "nosniff"}


def _svc(request: Request) -> BrandingService:
    return get_container(request).hosted.branding


@router.get("", summary="The tenant's branding of the hosted pages",
            responses={404: {"description": "No branding set (branding_not_found)"}})
async def get_branding(request: Request, principal: Manage) -> dict[str, Any]:
    view = await run_in_threadpool(_svc(request).get, principal.tenant_id)
    if view is None:
        raise NotFound("no branding is set for this tenant", code="branding_not_found")
    return view.public()


@router.put("", summary="Set the tenant's name, colours, privacy-policy URL, support contact",
            description="Colours are `#rrggbb`. The accent needs 4.5:1 contrast with white "
                        "(button text), the background 4.5:1 with the text colour `#1b1f24`, "
                        "and the accent 3:1 with the background; otherwise 422.")
async def put_branding(request: Request, principal: Manage, body: BrandingIn) -> dict[str, Any]:
    view = await run_in_threadpool(lambda: _svc(request).put(
        principal.tenant_id, body, actor_id=principal.client_id))
    return view.public()


@router.put("/logo", summary="Upload the logo (PNG, JPEG or WebP body, at most 512 KB)",
            description="Checked like any upload, shrunk to at most 512x512 and stored as a "
                        "metadata-free PNG. SVG is refused (it can carry script).",
            responses={422: {"description": "logo_too_large, image_corrupt, image_too_small"},
                       415: {"description": "unsupported_image_type"}})
async def put_logo(request: Request, principal: Manage) -> dict[str, Any]:
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > LOGO_MAX_BYTES:
            break  # the check below refuses it; nothing more is read
    view = await run_in_threadpool(lambda: _svc(request).set_logo(
        principal.tenant_id, data, actor_id=principal.client_id))
    return view.public()


@assets.get("/verify/assets/brand/{tenant_id}/{version}.css")
async def brand_stylesheet(request: Request, tenant_id: str, version: str) -> Response:
    view = await run_in_threadpool(_svc(request).get, tenant_id[:40])
    if view is None or view.version != version:
        return Response(status_code=404)
    return Response(brand_css(view.accent_color, view.background_color),
                    media_type="text/css; charset=utf-8", headers=_IMMUTABLE)


@assets.get("/verify/assets/brand/{tenant_id}/{digest}.png")
async def brand_logo(request: Request, tenant_id: str, digest: str) -> Response:
    found = await run_in_threadpool(_svc(request).logo, tenant_id[:40])
    if found is None or found[1] != digest:
        return Response(status_code=404)
    return Response(found[0], media_type="image/png", headers=_IMMUTABLE)
