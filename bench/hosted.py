"""Hosted pages: weight per page (HTML + the JS/CSS it loads) and server time per page/upload.

Run: .venv/bin/python bench/hosted.py [--runs 30] [--browser-runs 10] [--mobile] [--no-browser]
In process (ASGI, SQLite in a temporary data dir, no worker): each page is put in its state
and fetched `--runs` times; the time is the server's (request in, response out, through every
middleware), the median and p95. Weight is uncompressed and gzip -6 bytes of the HTML and of
every script and stylesheet it references (a first visit; the assets are cacheable after).
Uploads: the consent POST and a document upload (a generated passport JPEG), each on a fresh
session. Ratios compare the capture pages with the consent page and uploads with page views.
Then, in Debian Chromium with a fake camera (bench/_hosted_browser.py), each built-in workflow
walked from its link to the decision screen `--browser-runs` times: p50/p95 seconds, and the
requests and bytes a first visit takes (down: headers + bodies; up: headers, form
bodies and the photos posted, counted from the form since Chromium does not report files).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import io
import re
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient
from sqlalchemy import select

from idproof.bootstrap import Container, prepare
from idproof.config import RateLimitSettings, SecuritySettings, Settings
from idproof.testing import DocumentGenerator
from idproof.verification.models import SessionStep
from idproof.verification.schemas import CreateSession
from idproof.verification.service import Actor
from idproof.web.app import create_app

ASSET = re.compile(r'(?:src|href)="(/verify/assets/[^"]+)"')
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(0.95 * (len(ordered) - 1))] * 1000


def _gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6))


class Bench:
    def __init__(self, data_dir: Path) -> None:
        # Route rate limits off: one benchmarking client on one address would meet the
        # hosted per-IP limit (600/minute) within the run.
        settings = Settings(data_dir=data_dir, public_url="http://testserver",
                            secret_key=base64.b64encode(b"b" * 32).decode(),
                            security=SecuritySettings(rate_limits=RateLimitSettings(enabled=False)))
        self.container: Container = prepare(settings)
        # No worker runs here: an upload would wait its whole bound for the photo's verdict.
        self.container.hosted.settle_seconds = 0.0
        self.app = create_app(self.container)
        issued = self.container.clients.create("demo", "identity.verify")
        self.actor = Actor(tenant_id=issued.client.tenant_id, client_id=issued.client.id)

    def browser(self) -> TestClient:
        return TestClient(self.app, base_url="http://testserver",
                          client=("127.0.0.1", 50000))

    def opened(self, workflow: str) -> tuple[TestClient, str, str]:
        """A new session's link opened and consented in a fresh browser."""
        body = CreateSession(workflow=workflow, reference="bench")
        view, url, _ = self.container.sessions.create(self.actor, body)
        client = self.browser()
        page = client.get(url.removeprefix("http://testserver"))
        csrf = CSRF.search(page.text)
        assert csrf, page.text
        return client, view.id, csrf.group(1)

    def set_steps(self, sid: str, **states: tuple[str, list[str]]) -> None:
        with self.container.db.session() as s:
            for row in s.scalars(select(SessionStep).where(SessionStep.session_id == sid)):
                if row.step in states:
                    row.state, row.reasons = states[row.step]


def _weight(client: TestClient, html: str) -> tuple[int, int, int]:
    """(HTML bytes, asset bytes, gzip total) of a page and what it loads."""
    assets = b"".join(client.get(path).content for path in sorted(set(ASSET.findall(html))))
    body = html.encode()
    return len(body), len(assets), _gz(body) + _gz(assets)


def _page(client: TestClient, runs: int) -> tuple[str, list[float]]:
    times: list[float] = []
    html = ""
    for _ in range(runs):
        t0 = time.perf_counter()
        r = client.get("/verify/s")
        times.append(time.perf_counter() - t0)
        assert r.status_code == 200, (r.status_code, r.text[:200])
        html = r.text
    return html, times


def _pages(b: Bench, runs: int) -> dict[str, tuple[tuple[int, int, int], list[float]]]:
    out: dict[str, tuple[tuple[int, int, int], list[float]]] = {}
    body = CreateSession(workflow="kyc_standard", reference="bench")
    view, url, _ = b.container.sessions.create(b.actor, body)
    client = b.browser()
    first = client.get(url.removeprefix("http://testserver"))
    html, times = _page(client, runs)
    out["consent"] = (_weight(client, html), times)
    csrf = CSRF.search(first.text)
    assert csrf
    client.post("/verify/s/consent", data={"csrf_token": csrf.group(1), "agree": "yes",
                                           "version": "2026-11-1"})
    steps: list[tuple[str, dict[str, tuple[str, list[str]]]]] = [
        ("document", {}), ("selfie", {"document": ("passed", [])}),
        ("liveness", {"selfie": ("passed", [])}), ("waiting", {"liveness": ("processing", [])}),
        ("done (declined)", {"liveness": ("failed", ["liveness_failed"])})]
    for name, states in steps:
        b.set_steps(view.id, **states)
        html, times = _page(client, runs)
        out[name] = (_weight(client, html), times)
    # The hand-off QR page (a POST: a new link each time) on another session.
    client2, _sid, csrf2 = b.opened("document_only")
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = client2.post("/verify/s/handoff", data={"csrf_token": csrf2})
        times.append(time.perf_counter() - t0)
    out["handoff QR"] = (_weight(client2, r.text), times)
    return out


def _uploads(b: Bench, runs: int, jpeg: bytes) -> dict[str, list[float]]:
    consent: list[float] = []
    document: list[float] = []
    for _ in range(runs):
        body = CreateSession(workflow="document_only", reference="bench")
        _view, url, _ = b.container.sessions.create(b.actor, body)
        client = b.browser()
        page = client.get(url.removeprefix("http://testserver"))
        m = CSRF.search(page.text)
        assert m
        t0 = time.perf_counter()
        client.post("/verify/s/consent", data={"csrf_token": m.group(1), "agree": "yes",
                                               "version": "2026-11-1"},
                    follow_redirects=False)
        consent.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        r = client.post("/verify/s/documents",
                        data={"csrf_token": m.group(1), "document_type": "passport"},
                        files={"front": ("front.jpg", jpeg, "image/jpeg")},
                        follow_redirects=False)
        document.append(time.perf_counter() - t0)
        assert r.status_code == 303, r.text
    return {"consent POST": consent, f"document upload ({len(jpeg) // 1024} KiB JPEG)": document}


def _passport_jpeg() -> bytes:
    page = DocumentGenerator(seed=3, today=date.today()).passport().front.convert("RGB")
    buf = io.BytesIO()
    page.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--browser-runs", type=int, default=10,
                        help="walks per workflow in Chromium (p50 over these)")
    parser.add_argument("--mobile", action="store_true", help="a phone viewport in Chromium")
    parser.add_argument("--no-browser", action="store_true", help="in-process figures only")
    args = parser.parse_args()
    runs = max(3, min(args.runs, 500))
    _in_process(runs)
    if not args.no_browser:
        import _hosted_browser

        mobile = bool(args.mobile)
        results = _hosted_browser.run(max(1, min(args.browser_runs, 100)), mobile=mobile)
        _hosted_browser.report(results, mobile)


def _in_process(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        b = Bench(Path(tmp) / "data")
        b.browser().get("/healthz")  # first-request set-up out of the figures
        pages = _pages(b, runs)
        uploads = _uploads(b, runs, _passport_jpeg())
        b.container.close()
    print(f"hosted pages, {runs} runs each (in-process ASGI, SQLite)")
    print(f"{'page':<18}{'HTML B':>9}{'JS+CSS B':>10}{'gzip B':>9}{'p50 ms':>9}{'p95 ms':>9}")
    for name, ((html, assets, gz), times) in pages.items():
        p50, p95 = _ms(times)
        print(f"{name:<18}{html:>9,}{assets:>10,}{gz:>9,}{p50:>9.2f}{p95:>9.2f}")
    for name, times in uploads.items():
        p50, p95 = _ms(times)
        print(f"{name:<34}p50 {p50:8.2f} ms   p95 {p95:8.2f} ms")
    consent_total = sum(pages["consent"][0][:2])
    capture_total = sum(pages["document"][0][:2])
    view_p50 = _ms(pages["document"][1])[0]
    upload_p50 = _ms(next(v for k, v in uploads.items() if k.startswith("document")))[0]
    print(f"ratio document page / consent page weight: {capture_total / consent_total:.2f}")
    print(f"ratio gzip / raw, document page: "
          f"{pages['document'][0][2] / capture_total:.2f}")
    print(f"ratio document upload / document page view (server time): "
          f"{upload_p50 / view_p50:.1f}")


if __name__ == "__main__":
    main()
