"""Attack sequences made from real photos, through the real face engine and `evaluate()`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from idproof.verification.biometrics import liveness as lv
from idproof.verification.biometrics.analysis import FaceAnalyzer
from idproof.verification.biometrics.imaging import FRAME_MAX_BYTES, decode_upload
from idproof.verification.biometrics.pad import FrequencyPAD
from tests.biometrics_data import (
    jpeg_bytes,
    load,
    perspective_frames,
    print_halftone,
    screen_replay,
)

CHALLENGE = ["turn_left", "look_up"]


def frames(images: list[Image.Image]) -> list[np.ndarray]:
    return [decode_upload(jpeg_bytes(i, 90), jpeg_only=True, max_bytes=FRAME_MAX_BYTES)
            for i in images]


@pytest.fixture(scope="module")
def selfie(face_dir: Path) -> Image.Image:
    return load("obama2.jpg", face_dir).resize((420, 805))


@pytest.fixture(scope="module")
def reference(face_dir: Path, analyzer: FaceAnalyzer) -> np.ndarray:
    emb = analyzer.analyze_still(np.asarray(load("obama.jpg", face_dir))).embedding
    assert emb is not None
    return emb


def run(analyzer: FaceAnalyzer, images: list[Image.Image], reference: np.ndarray,
        step_ms: int = 200) -> lv.LivenessResult:
    obs = analyzer.observe_frames(frames(images), [i * step_ms for i in range(len(images))])
    return lv.evaluate(CHALLENGE, obs, reference)


def test_a_repeated_still_photo(analyzer, selfie, reference) -> None:
    result = run(analyzer, [selfie] * 12, reference)
    assert not result.passed and lv.STATIC_FRAMES in result.failures


def test_a_still_photo_with_small_changes(analyzer, selfie, reference) -> None:
    imgs = [ImageEnhance.Brightness(selfie).enhance(1 + 0.01 * (i % 3)) for i in range(12)]
    result = run(analyzer, imgs, reference)
    assert not result.passed and lv.STATIC_FRAMES in result.failures


def test_a_flat_photo_tilted_in_front_of_the_camera(analyzer, selfie, reference) -> None:
    result = run(analyzer, perspective_frames(selfie, 12, 15.0), reference)
    assert not result.passed
    assert lv.PLANAR_MOTION in result.failures, result
    assert result.measures["max_nose_parallax"] < lv.LivenessPolicy().min_parallax
    # It is the same face throughout and it matches the document: only the motion fails.
    assert lv.FACE_CHANGED not in result.failures
    assert lv.REFERENCE_MISMATCH not in result.failures


def test_a_different_person_in_some_frames(analyzer, selfie, reference, face_dir) -> None:
    other = load("biden.jpg", face_dir).resize((420, 954))
    imgs = perspective_frames(selfie, 12, 15.0)
    imgs[5:8] = [other] * 3
    result = run(analyzer, imgs, reference)
    assert not result.passed and lv.FACE_CHANGED in result.failures


def test_someone_else_than_the_document(analyzer, face_dir, reference) -> None:
    other = load("biden.jpg", face_dir).resize((420, 954))
    result = run(analyzer, perspective_frames(other, 12, 8.0), reference)
    assert not result.passed and lv.REFERENCE_MISMATCH in result.failures


def test_timestamps_out_of_window(analyzer, selfie, reference) -> None:
    imgs = perspective_frames(selfie, 12, 15.0)
    result = run(analyzer, imgs, reference, step_ms=5000)  # 55 s for 12 frames
    assert not result.passed and lv.OUT_OF_WINDOW in result.failures


def test_pad_flags_simulated_screen_and_print_but_not_camera_photos(
        analyzer: FaceAnalyzer, face_dir: Path) -> None:
    pad = analyzer.pad
    assert isinstance(pad, FrequencyPAD)
    for name in ("obama.jpg", "obama2.jpg", "biden.jpg", "astronaut.png"):
        img = load(name, face_dir)
        genuine = analyzer.analyze_still(decode_upload(jpeg_bytes(img)), with_pad=True)
        assert genuine.pad is not None and not genuine.pad.attack_suspected, (name, genuine.pad)
        for attack in (screen_replay, print_halftone):
            a = analyzer.analyze_still(decode_upload(jpeg_bytes(attack(img))), with_pad=True)
            # Either flagged, or the pattern hides the face and the selfie is refused anyway.
            assert (a.pad is not None and a.pad.attack_suspected) or a.reasons == ("no_face",), \
                (name, attack.__name__, a.pad)
        flagged = analyzer.analyze_still(decode_upload(jpeg_bytes(screen_replay(img))),
                                         with_pad=True)
        assert flagged.pad is not None and flagged.pad.attack_suspected
