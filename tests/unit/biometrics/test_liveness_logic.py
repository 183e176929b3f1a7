"""Pure liveness decisions on synthetic landmark series (a 3D head vs a flat photo)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from idproof.verification.biometrics import liveness as lv
from idproof.verification.biometrics.geometry import nose_parallax, pose_proxy
from tests.unit.biometrics.synthetic_faces import (
    action_series,
    apply_homography,
    face_model,
    project,
    tilt_homography,
)

RNG = np.random.default_rng(7)
ME = RNG.normal(0, 0.09, 128)  # 128-D embeddings ~0.8-1.0 apart, as dlib's are for strangers
OTHER = RNG.normal(0, 0.09, 128)


def _me(seed: int) -> np.ndarray:
    return ME + np.random.default_rng(seed).normal(0, 0.015, 128)  # ~0.17 apart: same person


def observe(landmarks: list[np.ndarray], *, step_ms: int = 150, start: int = 0,
            embeddings: list[np.ndarray] | None = None, change: float = 5.0
            ) -> list[lv.FrameObservation]:
    embs = embeddings or [_me(i) for i in range(len(landmarks))]
    return [lv.FrameObservation(start + i * step_ms, 1, p, e, 0.0 if i == 0 else change)
            for i, (p, e) in enumerate(zip(landmarks, embs, strict=True))]


ALL_CHALLENGES = [list(c) for n in (2, 3) for c in itertools.permutations(lv.ACTIONS, n)]


@pytest.mark.parametrize("challenge", ALL_CHALLENGES, ids="-".join)
def test_a_head_doing_the_challenge_passes(challenge: list[str]) -> None:
    frames = observe(action_series(challenge, per_action=4, neutral=2, seed=len(challenge)))
    assert 10 <= len(frames) <= 40
    result = lv.evaluate(challenge, frames, ME)
    assert result.passed, (result.failures, result.observed_actions)
    assert result.reasons == ()


def test_random_actions_are_two_or_three_distinct_known_actions() -> None:
    seen = set()
    for _ in range(200):
        acts = lv.random_actions()
        assert 2 <= len(acts) <= 3 and len(set(acts)) == len(acts)
        assert set(acts) <= set(lv.ACTIONS)
        seen.add(tuple(acts))
    assert len(seen) > 10  # not a fixed list


def test_wrong_order_is_refused() -> None:
    frames = observe(action_series(["turn_right", "turn_left"]))
    result = lv.evaluate(["turn_left", "turn_right"], frames, ME)
    assert not result.passed
    assert lv.WRONG_ORDER in result.failures
    assert result.reasons == ("liveness_failed",)


def test_blink_out_of_place_is_wrong_order() -> None:
    frames = observe(action_series(["turn_left", "blink", "look_up"]))
    result = lv.evaluate(["blink", "turn_left", "look_up"], frames, ME)
    assert not result.passed and lv.WRONG_ORDER in result.failures


def test_a_missing_action_is_refused() -> None:
    frames = observe(action_series(["turn_left"], per_action=6, neutral=4))
    result = lv.evaluate(["turn_left", "look_up"], frames, ME)
    assert not result.passed and lv.ACTION_MISSING in result.failures


def test_natural_blinks_do_not_break_a_head_only_challenge() -> None:
    frames = observe(action_series(["blink", "turn_left", "blink", "turn_right"]))
    assert lv.evaluate(["turn_left", "turn_right"], frames, ME).passed


def test_identical_frames_are_a_still_photo() -> None:
    still = project(face_model())
    frames = observe([still.copy() for _ in range(15)], change=0.0)
    result = lv.evaluate(["turn_left", "blink"], frames, ME)
    assert not result.passed and lv.STATIC_FRAMES in result.failures


def test_near_identical_frames_are_a_still_photo() -> None:
    rng = np.random.default_rng(3)
    frames = observe([project(face_model(), noise_px=0.3, rng=rng) for _ in range(15)],
                     change=0.3)
    result = lv.evaluate(["turn_left", "blink"], frames, ME)
    assert not result.passed and lv.STATIC_FRAMES in result.failures


@pytest.mark.parametrize("axis", ["x", "y"])
def test_a_flat_photo_moved_in_front_of_the_camera_is_planar(axis: str) -> None:
    base = project(face_model())
    rng = np.random.default_rng(5)
    angles = [0, 0, 8, 16, 24, 30, 24, 16, 8, 0, -8, -16, -24, -30, -16, 0]
    lms = [apply_homography(tilt_homography(a, axis), base) + rng.normal(0, 0.5, base.shape)
           for a in angles]
    result = lv.evaluate(["turn_left", "turn_right"], observe(lms), ME)
    assert not result.passed
    assert lv.PLANAR_MOTION in result.failures
    assert result.measures["max_nose_parallax"] < 0.07


def test_nose_parallax_separates_a_head_from_a_picture() -> None:
    model = face_model()
    front = project(model)
    assert nose_parallax(front, project(model, yaw_deg=20)) > 0.15
    assert nose_parallax(front, project(model, pitch_deg=20)) > 0.15
    tilted = apply_homography(tilt_homography(25, "y"), front)
    assert nose_parallax(front, tilted) < 0.01


def test_pose_proxy_directions() -> None:
    model = face_model()
    front = pose_proxy(project(model))
    assert pose_proxy(project(model, yaw_deg=25)).yaw > front.yaw + 0.3  # subject's left
    assert pose_proxy(project(model, yaw_deg=-25)).yaw < front.yaw - 0.3
    assert pose_proxy(project(model, pitch_deg=20)).pitch < front.pitch * 0.85
    assert pose_proxy(project(model, eye_open=0.1)).ear < front.ear * 0.3


def test_a_different_face_in_some_frames_is_refused() -> None:
    lms = action_series(["turn_left", "look_up"])
    embs = [_me(i) for i in range(len(lms))]
    for i in range(6, 10):
        embs[i] = OTHER + np.random.default_rng(i).normal(0, 0.015, 128)
    result = lv.evaluate(["turn_left", "look_up"], observe(lms, embeddings=embs), ME)
    assert not result.passed and lv.FACE_CHANGED in result.failures


def test_the_face_must_match_the_reference() -> None:
    frames = observe(action_series(["turn_left", "look_up"]))
    result = lv.evaluate(["turn_left", "look_up"], frames, OTHER)
    assert not result.passed and lv.REFERENCE_MISMATCH in result.failures


def test_a_frame_without_a_face_is_refused() -> None:
    frames = observe(action_series(["turn_left", "look_up"]))
    frames[4] = lv.FrameObservation(frames[4].timestamp_ms, 0, None, None, 5.0)
    result = lv.evaluate(["turn_left", "look_up"], frames, ME)
    assert not result.passed and lv.FACE_NOT_TRACKED in result.failures


@pytest.mark.parametrize("case", ["decreasing", "too_long", "too_short", "before_issue",
                                  "after_receipt"])
def test_timestamps_out_of_the_window_are_refused(case: str) -> None:
    lms = action_series(["turn_left", "look_up"])
    issued, received = 1_800_000_000_000, 1_800_000_020_000
    step, start = 150, issued + 1000
    if case == "too_long":
        step = 3000
    elif case == "too_short":
        step = 20
    elif case == "before_issue":
        start = issued - 120_000
    elif case == "after_receipt":
        start = received + 60_000
    frames = observe(lms, step_ms=step, start=start)
    if case == "decreasing":
        frames[5], frames[6] = frames[6], frames[5]
    result = lv.evaluate(["turn_left", "look_up"], frames, ME, issued_ms=issued,
                         received_ms=received)
    assert not result.passed and lv.OUT_OF_WINDOW in result.failures
    # The same frames with good times pass: the timestamps alone made the difference.
    good = observe(lms, step_ms=150, start=issued + 1000)
    assert lv.evaluate(["turn_left", "look_up"], good, ME, issued_ms=issued,
                       received_ms=received).passed


@pytest.mark.parametrize("count", [9, 41])
def test_frame_count_outside_10_to_40_is_refused(count: int) -> None:
    lms = [project(face_model())] * count
    result = lv.evaluate(["turn_left", "blink"], observe(lms), ME)
    assert not result.passed and result.failures == (lv.FRAME_COUNT,)
