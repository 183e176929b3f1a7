"""Live feedback on one small camera frame: is the face there and centred, which pose is it in.

The hosted pages ask this a few times a second while the person frames a selfie or does the
liveness movements, to show a tick when the asked pose is reached. It decides nothing: the
uploaded frames are judged afterwards by `liveness.evaluate`, with the same detector and the
same pose rules (`liveness.frame_state`) used here. The frame is decoded in memory and
dropped on return; nothing of it is stored or logged.
"""

from __future__ import annotations

from dataclasses import dataclass

from idproof.core.errors import ValidationFailed
from idproof.verification.biometrics.geometry import PoseProxy, pose_proxy
from idproof.verification.biometrics.imaging import decode_upload
from idproof.verification.biometrics.liveness import ACTIONS, LivenessPolicy, frame_state
from idproof.verification.biometrics.protocols import RGB, Face, FaceDetector
from idproof.verification.biometrics.quality import MULTIPLE_FACES, NO_FACE, QualityPolicy

# A probe frame is a small copy of the camera picture (the page sends ~480 px, ~20 KB).
PROBE_MAX_BYTES = 64 * 1024
PROBE_MAX_PIXELS = 640 * 480
# "look_straight" is the page's first step: the neutral pose the movements start from.
PROBE_ACTIONS = ("look_straight", *ACTIONS)
OFF_CENTRE, TOO_FAR, TOO_CLOSE = "off_centre", "too_far", "too_close"


@dataclass(frozen=True, slots=True)
class FramingPolicy:
    """Where the face box must sit, in shares of the frame (the page's oval is centred)."""

    max_offset_x: float = 0.12
    max_offset_y: float = 0.16
    min_width: float = 0.14
    max_width: float = 0.6


@dataclass(frozen=True, slots=True)
class PoseFeedback:
    face: bool  # exactly one face (background faces far smaller are ignored)
    centred: bool
    problem: str | None  # no_face, multiple_faces, off_centre, too_far, too_close
    pose: PoseProxy | None
    state: str | None  # the frame's movement against the baseline (None: neutral)
    reached: bool | None  # the asked action seen in this frame (None: nothing asked)

    def to_json(self) -> dict[str, object]:
        pose = None if self.pose is None else {
            "yaw": round(self.pose.yaw, 3), "pitch": round(self.pose.pitch, 3),
            "ear": round(self.pose.ear, 3)}
        return {"face": self.face, "centred": self.centred, "problem": self.problem,
                "pose": pose, "state": self.state, "reached": self.reached}


def framing(face: Face, width: int, height: int, policy: FramingPolicy) -> str | None:
    """What is wrong with where the face sits in the frame, or None."""
    b = face.box
    share = b.width / width
    if share < policy.min_width:
        return TOO_FAR
    if share > policy.max_width:
        return TOO_CLOSE
    dx = abs((b.left + b.right) / 2 / width - 0.5)
    dy = abs((b.top + b.bottom) / 2 / height - 0.5)
    return OFF_CENTRE if dx > policy.max_offset_x or dy > policy.max_offset_y else None


def probe(detector: FaceDetector, image: RGB, *, action: str | None = None,
          baseline: PoseProxy | None = None, liveness: LivenessPolicy | None = None,
          quality: QualityPolicy | None = None,
          policy: FramingPolicy | None = None) -> PoseFeedback:
    """Feedback on one frame. Without a baseline the neutral pose is a frontal face (yaw 0)
    and only turns are judged; with the pose the page saw at its "look straight" step,
    looking up and blinking are judged too, relative to it, as the final judgment does."""
    if action is not None and action not in PROBE_ACTIONS:
        raise ValidationFailed(f"action must be one of {', '.join(PROBE_ACTIONS)}",
                               code="invalid_action")
    liveness = liveness or LivenessPolicy()
    quality = quality or QualityPolicy()
    policy = policy or FramingPolicy()
    asked = None if action is None else False
    faces = detector.detect(image)
    if not faces:
        return PoseFeedback(False, False, NO_FACE, None, None, asked)
    big = [f for f in faces if f.box.width >= quality.second_face_share * faces[0].box.width]
    if len(big) > 1:
        return PoseFeedback(False, False, MULTIPLE_FACES, None, None, asked)
    face = big[0]
    pose = pose_proxy(face.landmarks)
    height, width = image.shape[:2]
    problem = framing(face, width, height, policy)
    base = baseline or PoseProxy(0.0, 0.0, 0.0)
    state = frame_state(pose, base.yaw, base.pitch, base.ear, liveness)
    if action is None:
        reached = None
    elif action == "look_straight":
        reached = state is None and problem is None
    else:
        reached = state == action
    return PoseFeedback(True, problem is None, problem, pose, state, reached)


def probe_upload(detector: FaceDetector, data: bytes, *, action: str | None,
                 baseline: tuple[float, float, float] | None, liveness: LivenessPolicy,
                 quality: QualityPolicy) -> PoseFeedback:
    """`probe` on an uploaded frame: checked like every upload (a JPEG, at most
    PROBE_MAX_BYTES and PROBE_MAX_PIXELS), decoded in memory, dropped on return. The
    baseline is (yaw, pitch, ear) as an earlier answer gave them."""
    image = decode_upload(data, jpeg_only=True, max_bytes=PROBE_MAX_BYTES,
                          max_pixels=PROBE_MAX_PIXELS)
    return probe(detector, image, action=action, liveness=liveness, quality=quality,
                 baseline=PoseProxy(*baseline) if baseline is not None else None)
