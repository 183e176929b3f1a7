"""Active liveness, decided from per-frame observations (pure: no model, no I/O).

The engine turns each uploaded frame into a `FrameObservation` (landmarks, embedding, how much
the pixels changed); `evaluate()` decides. It passes only when the challenged actions happen in
the challenged order within the time window, one and the same face is in every frame, that
face matches the reference (the document portrait), and the motion is that of a head (the
nose moves off the plane of brows, eyes and mouth) rather than a flat picture.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from idproof.verification.biometrics.geometry import (
    PoseProxy,
    inter_ocular,
    nose_parallax,
    pose_proxy,
)
from idproof.verification.biometrics.protocols import Points, Vector

ACTIONS = ("turn_left", "turn_right", "look_up", "blink")
MIN_FRAMES, MAX_FRAMES = 10, 40

# Failure details (internal: the API says `liveness_failed`; these go to tests and the bench).
STATIC_FRAMES = "static_frames"
PLANAR_MOTION = "planar_motion"
FACE_CHANGED = "face_changed"
FACE_NOT_TRACKED = "face_not_tracked"
REFERENCE_MISMATCH = "reference_mismatch"
WRONG_ORDER = "wrong_order"
ACTION_MISSING = "action_missing"
OUT_OF_WINDOW = "timestamps_out_of_window"
FRAME_COUNT = "frame_count"


def random_actions(rng: secrets.SystemRandom | None = None) -> list[str]:
    """2 or 3 distinct actions in random order, from a CSPRNG (they must not be guessable)."""
    r = rng or secrets.SystemRandom()
    return r.sample(ACTIONS, r.choice((2, 3)))


@dataclass(frozen=True, slots=True)
class FrameObservation:
    timestamp_ms: int
    face_count: int
    landmarks: Points | None = None
    embedding: Vector | None = None
    # Mean absolute grey-level change from the previous frame (0 for the first frame).
    pixel_change: float = 0.0


@dataclass(frozen=True, slots=True)
class LivenessPolicy:
    min_span_ms: int = 1000
    max_span_ms: int = 30_000
    clock_skew_ms: int = 10_000
    yaw_delta: float = 0.18
    pitch_drop: float = 0.12  # relative drop of the nose-length ratio when looking up
    blink_ratio: float = 0.65  # eyes closed: EAR below this share of the open-eye baseline
    static_pixel_change: float = 0.3  # grey levels: below this two frames are "the same"
    static_share: float = 0.8  # camera noise alone keeps real consecutive frames apart
    min_landmark_motion: float = 0.03  # inter-ocular units, over the whole sequence
    min_parallax: float = 0.07  # inter-ocular units: a head's nose leaves the face plane
    same_face_distance: float = 0.55
    match_distance: float = 0.55


@dataclass(frozen=True, slots=True)
class LivenessResult:
    passed: bool
    failures: tuple[str, ...]
    measures: dict[str, float] = field(default_factory=dict)
    observed_actions: tuple[str, ...] = ()

    @property
    def reasons(self) -> tuple[str, ...]:
        return () if self.passed else ("liveness_failed",)


def _timestamps_ok(ts: Sequence[int], policy: LivenessPolicy, issued_ms: int | None,
                   received_ms: int | None) -> bool:
    if any(b <= a for a, b in pairwise(ts)):
        return False
    span = ts[-1] - ts[0]
    if not policy.min_span_ms <= span <= policy.max_span_ms:
        return False
    # Absolute (Unix epoch milliseconds) capture times must fall inside the challenge's life.
    absolute = ts[0] > 10**12 and issued_ms is not None and received_ms is not None
    return not (absolute and (ts[0] < issued_ms - policy.clock_skew_ms  # type: ignore[operator]
                              or ts[-1] > received_ms + policy.clock_skew_ms))  # type: ignore[operator]


def frame_state(p: PoseProxy, yaw0: float, pitch0: float, ear0: float,
                policy: LivenessPolicy) -> str | None:
    """One frame's action (None = neutral) against a baseline pose; a baseline pitch or eye
    openness of 0 means unknown, and that action is not judged."""
    dyaw = p.yaw - yaw0
    if dyaw > policy.yaw_delta:
        return "turn_left"  # nose towards image-right: the subject's left
    if dyaw < -policy.yaw_delta:
        return "turn_right"
    if pitch0 > 0 and p.pitch < pitch0 * (1 - policy.pitch_drop):
        return "look_up"
    if ear0 > 0 and p.ear < ear0 * policy.blink_ratio:
        return "blink"
    return None


def frame_states(poses: Sequence[PoseProxy], policy: LivenessPolicy) -> list[str | None]:
    """Each frame's action (None = neutral), relative to the first frames' baseline."""
    base = poses[: max(1, min(3, len(poses)))]
    yaw0 = float(np.median([p.yaw for p in base]))
    pitch0 = float(np.median([p.pitch for p in base]))
    ear0 = float(np.median([p.ear for p in base]))
    return [frame_state(p, yaw0, pitch0, ear0, policy) for p in poses]


def events(states: Sequence[str | None]) -> list[str]:
    """Runs of the same non-neutral state, in order."""
    out: list[str] = []
    prev: str | None = None
    for s in states:
        if s is not None and s != prev:
            out.append(s)
        prev = s
    return out


def sequence_matches(challenge: Sequence[str], seen: Sequence[str]) -> tuple[bool, str | None]:
    """The head actions seen must be exactly the challenged ones in order; blinks happen
    naturally, so extra blinks are ignored, but a challenged blink must come at its place."""
    head_seen = [e for e in seen if e != "blink"]
    head_wanted = [a for a in challenge if a != "blink"]
    if head_seen != head_wanted:
        if sorted(set(head_seen)) == sorted(head_wanted) or len(head_seen) > len(head_wanted):
            return False, WRONG_ORDER
        return False, ACTION_MISSING
    if "blink" not in challenge:
        return True, None
    # Position of the blink: between the head actions before and after it in the challenge.
    before = challenge.index("blink")
    heads_before = len([a for a in challenge[:before] if a != "blink"])
    count = 0
    for e in seen:
        if e == "blink" and count == heads_before:
            return True, None
        if e != "blink":
            count += 1
    return False, WRONG_ORDER if "blink" in seen else ACTION_MISSING


def _distance(a: Vector, b: Vector) -> float:
    return float(np.linalg.norm(a - b))


def evaluate(challenge: Sequence[str], frames: Sequence[FrameObservation],
             reference: Vector | None, policy: LivenessPolicy | None = None, *,
             issued_ms: int | None = None, received_ms: int | None = None) -> LivenessResult:
    """Decide one liveness answer; every failed check is listed, the first one decides."""
    policy = policy or LivenessPolicy()
    failures: list[str] = []
    measures: dict[str, float] = {}
    if not MIN_FRAMES <= len(frames) <= MAX_FRAMES:
        return LivenessResult(False, (FRAME_COUNT,))
    if not _timestamps_ok([f.timestamp_ms for f in frames], policy, issued_ms, received_ms):
        failures.append(OUT_OF_WINDOW)
    if any(f.face_count != 1 or f.landmarks is None for f in frames):
        failures.append(FACE_NOT_TRACKED)
        return LivenessResult(False, tuple(failures), measures)
    lms = [f.landmarks for f in frames if f.landmarks is not None]

    changes = [f.pixel_change for f in frames[1:]]
    static_share = sum(c < policy.static_pixel_change for c in changes) / len(changes)
    iod = np.median([inter_ocular(p) for p in lms])
    # The median landmark's displacement from the first frame: detector jitter moves a few
    # points (jaw line) on a still picture, a moving head moves most of them.
    motion = (max(float(np.median(np.linalg.norm(p - lms[0], axis=1))) for p in lms) / iod
              if iod > 0 else 0.0)
    measures.update(static_share=static_share, landmark_motion=motion)
    if static_share >= policy.static_share or motion < policy.min_landmark_motion:
        failures.append(STATIC_FRAMES)

    embeddings = [f.embedding for f in frames if f.embedding is not None]
    if len(embeddings) == len(frames):
        centre = np.median(np.stack(embeddings), axis=0)
        spread = max(_distance(e, centre) for e in embeddings)
        measures["max_distance_to_sequence_face"] = spread
        if spread > policy.same_face_distance:
            failures.append(FACE_CHANGED)
        if reference is not None:
            to_ref = _distance(centre, reference)
            measures["distance_to_reference"] = to_ref
            if to_ref > policy.match_distance:
                failures.append(REFERENCE_MISMATCH)
    else:
        failures.append(FACE_NOT_TRACKED)

    parallax = max(nose_parallax(lms[0], p) for p in lms[1:])
    measures["max_nose_parallax"] = parallax
    if STATIC_FRAMES not in failures and parallax < policy.min_parallax:
        failures.append(PLANAR_MOTION)

    seen = events(frame_states([pose_proxy(p) for p in lms], policy))
    ok, why = sequence_matches(list(challenge), seen)
    if not ok and why is not None:
        failures.append(why)
    return LivenessResult(not failures, tuple(dict.fromkeys(failures)), measures, tuple(seen))
