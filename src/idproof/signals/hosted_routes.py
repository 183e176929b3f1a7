"""The hosted pages post the device signal: `/sdk/device-post.js` sends `/sdk/device.js`'s
attributes with the page's CSRF token to `POST /verify/s/device`, with the client's IP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from idproof.auth.http import client_ip, get_container, request_id
from idproof.core.errors import Conflict, Forbidden, Unauthorized
from idproof.hosted.pages import browser_of, origin_ok
from idproof.signals.device import DeviceAttributes
from idproof.signals.service import Assessment
from idproof.signals.sessions import session_facts
from idproof.verification.lifecycle import Status, accepts_captures
from idproof.verification.models import VerificationSession

router = APIRouter(include_in_schema=False)
_POST_JS = (Path(__file__).parent / "static" / "device-post.js").read_bytes()


def _record(request: Request, token: str | None, device: DeviceAttributes) -> None:
    found = browser_of(request)
    if found is None:
        raise Unauthorized("open the verification link again", code="hosted_session_required")
    svc, browser, cookie = found
    if not origin_ok(request) or not svc.check_csrf(cookie, token):
        svc.record_csrf_failure(browser, client_ip(request), request_id(request))
        raise Forbidden("the CSRF token is missing or wrong", code="csrf_failed")
    c = get_container(request)
    with c.db.read() as s:
        row = s.get(VerificationSession, browser.session_id)
        if row is None or not accepts_captures(Status(row.status)):
            raise Conflict("this verification is no longer open", code="session_not_open")
        # The IP as the edge resolved it (trusted proxies); the raw value is never stored.
        facts = session_facts(s, c.protection, row,
                              Assessment(ip=client_ip(request), device=device))
    c.signals.assess(browser.tenant_id, browser.session_id, facts)


@router.post("/verify/s/device", status_code=204)
async def hosted_device(request: Request, body: DeviceAttributes,
                        x_csrf_token: Annotated[str | None, Header()] = None) -> Response:
    """Nothing about the signals goes back to the browser."""
    await run_in_threadpool(_record, request, x_csrf_token, body)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


@router.get("/sdk/device-post.js")
def device_post_js() -> Response:
    return Response(_POST_JS, media_type="text/javascript; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=3600",
                             "X-Content-Type-Options": "nosniff"})
