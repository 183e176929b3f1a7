"""Hosted flows in real Chromium: time from link to decision, requests and bytes, per workflow.

A real server (uvicorn on loopback, SQLite, the in-process worker) and Debian's Chromium with a
fake camera playing a clip of a face photo; the person uploads a generated passport, takes the
selfie with the camera and does the liveness challenge (a clip of stills: liveness declines, as
a photo attack should). Each run is a fresh browser context (a first visit, nothing cached).
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from PIL import Image

from tests.biometrics_data import fetch as fetch_faces
from tests.e2e.test_hosted_flow import Server
from tests.e2e.walk import DESKTOP, MOBILE, WORKFLOWS, Walk, launch, passport_jpeg, walk
from tests.e2e.y4m import write_y4m


def _link(server: Server, workflow: str) -> str:
    from idproof.verification.schemas import CreateSession
    from idproof.verification.service import Actor

    issued = server.container.clients.create("demo", "identity.verify")
    _view, url, _ = server.container.sessions.create(
        Actor(tenant_id=issued.client.tenant_id, client_id=issued.client.id),
        CreateSession(workflow=workflow, reference="bench"))
    return str(url)


def run(runs: int, workflows: tuple[str, ...] = WORKFLOWS, mobile: bool = False
        ) -> dict[str, list[Walk]]:
    """`runs` walks of each workflow, each from a new link in a new browser context."""
    from playwright.sync_api import sync_playwright

    faces = fetch_faces()
    out: dict[str, list[Walk]] = {w: [] for w in workflows}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        portrait = Image.open(faces / "obama.jpg")
        # A new passport (number) per walk: the same one twice is a duplicate_document.
        papers = iter(passport_jpeg(tmp / f"passport{i}.jpg", portrait, seed=100 + i)
                      for i in range(1 + runs * len(workflows)))
        clip = write_y4m(tmp / "selfie.y4m", [Image.open(faces / "obama2.jpg"),
                                              Image.open(faces / "obama3.jpg")],
                         frames_each=20)
        server = Server(tmp)
        try:
            with sync_playwright() as pw:
                browser = launch(pw, clip)
                try:
                    # One walk first, out of the figures: the worker's models load once.
                    context = browser.new_context(**DESKTOP)
                    walk(context, _link(server, "document_selfie"), next(papers))
                    context.close()
                    for _ in range(runs):
                        for workflow in workflows:
                            context = browser.new_context(**(MOBILE if mobile else DESKTOP))
                            out[workflow].append(
                                walk(context, _link(server, workflow), next(papers)))
                            context.close()
                finally:
                    browser.close()
        finally:
            server.stop()
    return out


def report(results: dict[str, list[Walk]], mobile: bool) -> None:
    """Prints p50/p95 link-to-decision, requests and bytes per workflow, and ratios."""
    view = "mobile 390x844" if mobile else "desktop 1280x800"
    runs = min(len(v) for v in results.values())
    print(f"\nhosted flows in Chromium ({view}), link to decision, {runs} runs each "
          "(uvicorn on loopback, SQLite, in-process worker)")
    print(f"{'workflow':<17}{'p50 s':>8}{'p95 s':>8}{'requests':>10}{'KiB down':>10}"
          f"{'KiB up':>9}  pages, decision")
    p50s: dict[str, float] = {}
    for workflow, walks in results.items():
        times = sorted(w.seconds for w in walks)
        p50s[workflow] = statistics.median(times)
        p95 = times[int(0.95 * (len(times) - 1))]
        reqs = statistics.median(w.requests for w in walks)
        down = statistics.median(w.bytes_down for w in walks) / 1024
        up = statistics.median(w.bytes_up + w.files_up for w in walks) / 1024
        last = walks[-1]
        decision = last.final_text.splitlines()[0] if last.final_text else ""
        print(f"{workflow:<17}{p50s[workflow]:>8.2f}{p95:>8.2f}{reqs:>10.0f}{down:>10.1f}"
              f"{up:>9.1f}  {'>'.join(last.pages)}; {decision[:40]}")
    base = p50s.get("document_only")
    if base:
        for workflow, p50 in p50s.items():
            if workflow != "document_only":
                print(f"ratio {workflow} / document_only (p50): {p50 / base:.2f}")
