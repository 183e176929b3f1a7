"""A person walking a hosted link to its decision in Playwright: shared by e2e tests and bench."""

from __future__ import annotations

import io
import shutil
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from PIL import Image

from idproof.testing import DocumentGenerator

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WORKFLOWS = ("document_only", "age_check", "document_selfie", "kyc_standard")
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
MOBILE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True,
                          "has_touch": True}
STEP_TIMEOUT_MS = 90_000  # a bound for a loaded machine, not a speed check


def launch(pw: Any, clip: Path | None = None) -> Any:
    """Debian's Chromium, headless, with a fake camera playing `clip` (or its test pattern)."""
    extra = [f"--use-file-for-fake-video-capture={clip}"] if clip else []
    return pw.chromium.launch(
        executable_path=CHROMIUM, headless=True,
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
              "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync",
              "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", *extra])


def passport_jpeg(path: Path, portrait: Image.Image | None = None, seed: int = 5) -> Path:
    """A generated passport page (with `portrait` as its photo) saved as a JPEG."""
    gen = DocumentGenerator(seed=seed, today=date.today())
    page = gen.passport(portrait=portrait).front.convert("RGB")
    buf = io.BytesIO()
    page.save(buf, format="JPEG", quality=92)
    path.write_bytes(buf.getvalue())
    return path


@dataclass
class Walk:
    """What one walk saw: the pages in order, the time to the decision, the traffic."""

    pages: list[str] = field(default_factory=list)
    seconds: float = 0.0
    requests: int = 0
    bytes_down: int = 0
    bytes_up: int = 0  # headers and form bodies: Chromium does not report multipart files
    files_up: int = 0  # the photos the person sent (their sizes as the page posted them)
    final_text: str = ""


FILES_JS = ("Array.from(document.querySelectorAll('input[type=file]')).reduce("
            "(n, i) => n + Array.from(i.files).reduce((m, f) => m + f.size, 0), 0)")


def _selfie(page: Any, out: Walk) -> None:
    # The live camera fills the file input: by itself when the on-device checks pass, else
    # by hand once the button is offered; then the preview's "use this photo".
    page.click("fieldset.capture .camera-start")
    page.wait_for_selector(".preview .use-photo, .camera .take:not([disabled])")
    if page.locator(".preview").count() == 0:
        page.click(".camera .take")
    page.click(".preview .use-photo")
    page.wait_for_selector(".camera-status:has-text('Photo taken')")
    out.files_up += int(page.evaluate(FILES_JS))
    with page.expect_navigation():
        page.click("#selfie-submit")


def _step(page: Any, current: str, document: Path, out: Walk) -> bool:
    """Acts on the page the person is on; True once the decision is shown."""
    if current == "consent":
        page.check("#agree")
        with page.expect_navigation():
            page.click("#consent-submit")
    elif current == "document":
        page.select_option("#document_type", "passport")
        page.set_input_files("#front", str(document))
        out.files_up += int(page.evaluate(FILES_JS))
        with page.expect_navigation():
            page.click("#document-submit")
    elif current == "selfie":
        _selfie(page, out)
    elif current == "liveness":
        with page.expect_navigation(timeout=STEP_TIMEOUT_MS):
            page.click("#liveness-start")
    elif current in {"waiting", "submit"}:
        with page.expect_navigation(timeout=STEP_TIMEOUT_MS):
            pass  # the waiting page moves on by itself
    elif current == "done":
        return True
    else:
        raise AssertionError(f"unexpected page {current}: {page.inner_text('main')}")
    return False


def walk(context: Any, url: str, document: Path) -> Walk:
    """Opens `url` in a new page of `context` and walks it to the decision screen."""
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    finished: list[Any] = []
    page.on("requestfinished", lambda request: finished.append(request))
    out = Walk()
    t0 = time.perf_counter()
    page.goto(url)
    for _ in range(30):
        page.wait_for_selector("#heading")
        current = page.get_attribute("body", "data-page") or ""
        out.pages.append(current)
        if _step(page, current, document, out):
            break
    out.seconds = time.perf_counter() - t0
    assert out.pages[-1] == "done", out.pages
    out.final_text = page.inner_text("main")
    for request in finished:
        sizes = request.sizes()
        out.requests += 1
        out.bytes_down += max(0, sizes["responseBodySize"]) + max(0, sizes["responseHeadersSize"])
        out.bytes_up += max(0, sizes["requestBodySize"]) + max(0, sizes["requestHeadersSize"])
    page.close()
    return out
