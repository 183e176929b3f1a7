"""The liveness ticks and the selfie framing follow the server's pose probe, in real headless
Chromium with a fake camera playing `.y4m` clips of real faces.

A clip that shows the asked turns earns a tick for each of them; a still frontal face earns
the "look straight" tick only, however long it is filmed. The challenge is fixed to two
turns here (the fixture photos hold turned heads but no raised chin or closed eyes).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.biometrics_data import fetch
from tests.e2e.test_hosted_a11y import _open_step
from tests.e2e.test_hosted_flow import CHROMIUM, Server
from tests.e2e.y4m import write_y4m
from tests.pose_faces import scene

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream"]
TURNS = ["turn_left", "turn_right"]


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    from idproof.verification.biometrics import liveness

    monkeypatch.setattr(liveness, "random_actions", lambda rng=None: list(TURNS))
    srv = Server(tmp_path)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def folder() -> Path:
    return fetch()


def _clip(tmp: Path, name: str, stills: list[Any], frames_each: int) -> Path:
    return write_y4m(tmp / name, stills, size=(640, 480), frames_each=frames_each)


def _to_liveness(server: Server, page: Any) -> None:
    _open_step(server, page, "kyc_standard", "#liveness", document=("passed", []),
               selfie=("passed", []))


def _run(clip: Path, server: Server) -> tuple[dict[str, Any], list[str]]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=[*ARGS, f"--use-file-for-fake-video-capture={clip}"])
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            _to_liveness(server, page)
            page.click("#liveness-start")
            # Every step ends (ticked or out of time) before the frames are sent. (The
            # page's CSP refuses eval, which wait_for_function needs: ask until it is so.)
            for _ in range(240):
                report = page.evaluate("window.idproofLiveness")
                if len(report["steps"]) == 3:
                    break
                page.wait_for_timeout(250)
            ticked = page.eval_on_selector_all(
                "#liveness-steps li", "items => items.map(li => li.querySelector('.tick') ?"
                " 'tick' : '')")
            return report, ticked
        finally:
            browser.close()


def test_each_turn_is_ticked_when_the_head_reaches_it(server: Server, tmp_path: Path,
                                                      folder: Path) -> None:
    front = scene("obama.jpg", size=(640, 480), folder=folder)
    right = scene("obama2.jpg", size=(640, 480), folder=folder)
    left = scene("obama2.jpg", size=(640, 480), mirror=True, folder=folder)
    # 1.5 s each, looped by Chromium: every pose comes back within 6 s (a step waits 7 s).
    clip = _clip(tmp_path, "turns.y4m", [front, right, front, left], frames_each=22)
    report, ticked = _run(clip, server)
    assert report["mode"] == "probe" and report["probes"] >= 3, report
    assert [s["action"] for s in report["steps"]] == ["look_straight", *TURNS]
    assert [s["reached"] for s in report["steps"]] == [True, True, True], report
    assert ticked == ["tick", "tick", "tick"]
    frames = sum(s["frames"] for s in report["steps"])
    assert 10 <= frames <= 40, report


def test_a_still_frontal_face_earns_no_movement_tick(server: Server, tmp_path: Path,
                                                     folder: Path) -> None:
    front = scene("obama.jpg", size=(640, 480), folder=folder)
    clip = _clip(tmp_path, "still.y4m", [front], frames_each=30)
    report, ticked = _run(clip, server)
    assert report["mode"] == "probe", report
    # The picture is a centred frontal face: "look straight" is reached, no turn ever is.
    assert [s["reached"] for s in report["steps"]] == [True, False, False], report
    assert ticked == ["tick", "", ""]


def _to_selfie(server: Server, page: Any) -> None:
    _open_step(server, page, "document_selfie", "#selfie-form", document=("passed", []))


def test_the_selfie_framing_comes_from_the_face_detector(server: Server, tmp_path: Path,
                                                         folder: Path) -> None:
    from playwright.sync_api import sync_playwright

    centred = _clip(tmp_path, "centred.y4m",
                    [scene("obama.jpg", size=(640, 480), folder=folder)], frames_each=30)
    aside = _clip(tmp_path, "aside.y4m", [scene("obama.jpg", size=(640, 480), offset=(0.3, 0),
                                                folder=folder)], frames_each=30)
    with sync_playwright() as pw:
        for clip, expect_taken in ((centred, True), (aside, False)):
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                *ARGS, f"--use-file-for-fake-video-capture={clip}"])
            try:
                page = browser.new_page()
                page.set_default_timeout(30_000)
                _to_selfie(server, page)
                page.click("fieldset.capture .camera-start")
                if expect_taken:  # a centred face: taken by itself once the server agrees
                    page.wait_for_selector(".preview .use-photo", timeout=20_000)
                    quality = page.evaluate("window.idproofQuality")
                    assert quality["faceBy"] == "server" and quality["problems"] == []
                else:  # beside the oval: the page says so and waits for the person
                    page.wait_for_selector(".camera .guide-text:has-text('Centre your face')")
                    page.wait_for_selector(".camera .take:not([disabled])", timeout=15_000)
                    assert page.locator(".preview").count() == 0
                    quality = page.evaluate("window.idproofQuality")
                    assert quality["faceBy"] == "server" and "face" in quality["problems"]
            finally:
                browser.close()


def test_a_chosen_photo_is_checked_and_its_sending_announced(server: Server, tmp_path: Path,
                                            folder: Path) -> None:
    from playwright.sync_api import sync_playwright

    # A photo whose face is not in the middle: fine for a file (the oval is the camera's).
    photo = tmp_path / "selfie.jpg"
    scene("obama.jpg", size=(640, 480), offset=(0.25, 0.2), folder=folder).save(
        photo, format="JPEG")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            _to_selfie(server, page)
            status = page.locator("#upload-status")
            assert status.get_attribute("role") == "status"
            assert status.get_attribute("aria-live") == "polite"
            assert status.inner_text() == ""
            page.set_input_files("#selfie", str(photo))
            page.wait_for_selector(".preview .use-photo")
            assert page.evaluate("window.idproofQuality.faceBy") == "server"
            assert page.locator(".preview .alert").count() == 0
            page.click(".preview .use-photo")
            # What the page shows once "Send" is pressed, read before it navigates away.
            page.evaluate("""document.getElementById('selfie-form').addEventListener('submit',
                function (event) {
                  var s = document.getElementById('upload-status');
                  window.shownOnSubmit = [s.textContent, s.offsetHeight > 0];
                  event.preventDefault();
                })""")
            page.click("#selfie-submit")
            assert page.evaluate("window.shownOnSubmit") == ["Checking your photo\u2026", True]
        finally:
            browser.close()
