"""The pose probe's pure rules: where a face box sits in the frame, and a frame's movement
against a baseline pose (the rule the liveness judgment applies to every uploaded frame)."""

from __future__ import annotations

import numpy as np
import pytest

from idproof.verification.biometrics.geometry import pose_proxy
from idproof.verification.biometrics.liveness import LivenessPolicy, frame_state, frame_states
from idproof.verification.biometrics.probe import (
    OFF_CENTRE,
    TOO_CLOSE,
    TOO_FAR,
    FramingPolicy,
    framing,
)
from idproof.verification.biometrics.protocols import Face, FaceBox
from tests.unit.biometrics.synthetic_faces import face_model, project


def _face(cx: float, cy: float, width: float, frame: tuple[int, int] = (480, 360)) -> Face:
    w, h = frame
    half = width * w / 2
    box = FaceBox(round(cx * w - half), round(cy * h - half), round(cx * w + half),
                  round(cy * h + half))
    return Face(box, np.zeros((68, 2)))


@pytest.mark.parametrize(("cx", "cy", "width", "problem"), [
    (0.5, 0.5, 0.3, None),
    (0.58, 0.4, 0.3, None),  # inside the allowance
    (0.5, 0.5, 0.1, TOO_FAR),
    (0.5, 0.5, 0.7, TOO_CLOSE),
    (0.75, 0.5, 0.3, OFF_CENTRE),
    (0.5, 0.2, 0.3, OFF_CENTRE),
])
def test_framing(cx: float, cy: float, width: float, problem: str | None) -> None:
    assert framing(_face(cx, cy, width), 480, 360, FramingPolicy()) == problem


def test_frame_state_against_a_baseline_is_what_the_judgment_sees() -> None:
    model, policy = face_model(), LivenessPolicy()
    base = pose_proxy(project(model))
    poses = {"turn_left": project(model, yaw_deg=25), "turn_right": project(model, yaw_deg=-25),
             "look_up": project(model, pitch_deg=20), "blink": project(model, eye_open=0.1),
             None: project(model, yaw_deg=3)}
    for expected, pts in poses.items():
        p = pose_proxy(pts)
        assert frame_state(p, base.yaw, base.pitch, base.ear, policy) == expected
        # The judgment's own series (three neutral frames, then this one) agrees.
        assert frame_states([base, base, base, p], policy)[-1] == expected
    # Without a baseline pitch and eye openness (0: unknown) only turns are judged.
    for action in ("look_up", "blink"):
        assert frame_state(pose_proxy(poses[action]), 0.0, 0.0, 0.0, policy) is None
    assert frame_state(pose_proxy(poses["turn_left"]), 0.0, 0.0, 0.0, policy) == "turn_left"
