"""Console settings of the hosted pages' branding: the hosted package's BrandingService behind
a form (name, colours checked for contrast, privacy URL, support contact, logo), versioned."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from idproof.auth.models import Tenant
from idproof.console.forms import _Form, failure_text, parse_form
from idproof.console.web import chosen_tenant, page, role_may
from idproof.core.errors import IdproofError
from idproof.hosted.branding import BrandingService, BrandView
from idproof.hosted.branding_rules import (
    LOGO_MAX_BYTES,
    MIN_TEXT_CONTRAST,
    MIN_UI_CONTRAST,
    BrandingIn,
)
from idproof.operators.policy import Action
from idproof.operators.router import route
from idproof.operators.sessions import Live

SETTINGS = Action.TENANT_SETTINGS
PATH = "/console/settings/branding"
_TEXTS = {"branding_conflict": "Someone changed the branding since you opened the page. "
                               "Nothing was saved; the current values are shown.",
          "branding_not_found": "Save a display name first, then add the logo.",
          "logo_missing": "Choose an image file.",
          "logo_too_large": f"The logo may be at most {LOGO_MAX_BYTES // 1024} KiB.",
          "unsupported_image_type": "The logo is a PNG, JPEG or WebP image (not SVG).",
          "image_corrupt": "The image could not be read.",
          "image_too_small": "The image is too small."}


class BrandingForm(_Form):
    version: str = Field("", max_length=64)
    display_name: str = Field("", max_length=200)
    accent_color: str = Field("", max_length=20)
    background_color: str = Field("", max_length=20)
    privacy_url: str = Field("", max_length=600)
    support_contact: str = Field("", max_length=300)

    def settings(self) -> BrandingIn:
        """The hosted package's own model (format and WCAG contrast rules live there)."""
        values = {k: v or None for k, v in self.model_dump(exclude={"version"}).items()}
        if values["accent_color"] is None:
            del values["accent_color"]  # the default accent
        return BrandingIn.model_validate(values)


def _svc(request: Request) -> BrandingService:
    return request.app.state.container.hosted.branding  # type: ignore[no-any-return]


def _page(request: Request, live: Live, tenant: str, *, status: int = 200,
          shown: dict[str, Any] | None = None, **ctx: Any) -> HTMLResponse:
    chosen, tenants = chosen_tenant(request, live, tenant)
    brand: BrandView | None = _svc(request).get(chosen.id)
    values = shown or (brand.public() if brand else {})
    return page(request, live, "branding.html", status=status, tenant=chosen,
                tenants=tenants, values=values, brand=brand,
                version=brand.fingerprint if brand else "", min_text=MIN_TEXT_CONTRAST,
                min_ui=MIN_UI_CONTRAST, **ctx)


def _why(exc: ValidationError) -> str:
    """The model's own messages (fixed texts and field names, never the values sent)."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'colours'}: "
                     f"{str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors())


@route("GET", PATH, SETTINGS)
def branding_page(request: Request, live: Annotated[Live, Depends(role_may(SETTINGS))],
                  tenant: str = "") -> Response:
    return _page(request, live, tenant[:64])


@route("POST", PATH, SETTINGS)
async def branding_save(request: Request, live: Annotated[Live, Depends(role_may(SETTINGS))],
                        tenant: str = "") -> Response:
    chosen, _ = chosen_tenant(request, live, tenant[:64])
    try:
        body = parse_form(BrandingForm, await request.form())
    except IdproofError as exc:
        return _page(request, live, chosen.name, status=422,
                     error="Nothing was saved. " + failure_text(exc, {}))
    shown = body.model_dump(exclude={"version"})
    try:
        settings = body.settings()
    except ValidationError as exc:
        return _page(request, live, chosen.name, status=422, shown=shown,
                     error="Nothing was saved. " + _why(exc))
    try:
        await run_in_threadpool(lambda: _svc(request).put(
            chosen.id, settings, actor_id=live.operator_id, actor_type="operator",
            version=body.version))
    except IdproofError as exc:
        return _page(request, live, chosen.name, status=exc.status,
                     error=failure_text(exc, _TEXTS))
    return _page(request, live, chosen.name, notice="Branding saved.")


@route("POST", PATH + "/logo", SETTINGS)
async def branding_logo(request: Request, live: Annotated[Live, Depends(role_may(SETTINGS))],
                        tenant: str = "") -> Response:
    chosen, _ = chosen_tenant(request, live, tenant[:64])
    form = await request.form()
    upload = form.get("logo")
    data = await upload.read(LOGO_MAX_BYTES + 1) if isinstance(upload, UploadFile) else b""
    try:
        await run_in_threadpool(lambda: _logo(request, chosen, data, live.operator_id))
    except IdproofError as exc:
        return _page(request, live, chosen.name, status=exc.status,
                     error="The logo was not saved. " + failure_text(exc, _TEXTS))
    return _page(request, live, chosen.name, notice="Logo saved.")


def _logo(request: Request, tenant: Tenant, data: bytes, operator_id: str) -> None:
    _svc(request).set_logo(tenant.id, data, actor_id=operator_id, actor_type="operator")
