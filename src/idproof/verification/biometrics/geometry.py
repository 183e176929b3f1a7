"""Pure face geometry on 68-point landmarks: head pose proxies, eye openness, planarity.

Inputs are landmark arrays in the iBUG 300-W order (dlib's 68-point predictor). No model, no
I/O: everything here is tested on synthetic landmark sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from idproof.verification.biometrics.protocols import Points

JAW_LEFT, JAW_RIGHT = 0, 16  # image-left and image-right ends of the jaw line
NOSE_TIP = 30
NOSE_BRIDGE = 27
CHIN = 8
RIGHT_EYE = slice(36, 42)  # the subject's right eye: image-left in a non-mirrored photo
LEFT_EYE = slice(42, 48)


@dataclass(frozen=True, slots=True)
class PoseProxy:
    """Scale-free head-pose proxies and eye openness read from one landmark set.

    yaw: where the nose tip sits between the jaw ends, -1 (image-left) .. 0 (centre) .. 1;
    a head turning to the subject's left moves it towards image-right in a non-mirrored frame.
    pitch: nose length (bridge to tip) over face height (bridge to chin); it shrinks when the
    head tilts back (looking up) and grows when looking down.
    ear: eye aspect ratio (mean of both eyes), about 0.25-0.35 open, below ~0.15 closed.
    """

    yaw: float
    pitch: float
    ear: float


def eye_aspect_ratio(eye: Points) -> float:
    """Soukupova & Cech (2016): vertical over horizontal eye opening."""
    v1 = np.linalg.norm(eye[1] - eye[5])
    v2 = np.linalg.norm(eye[2] - eye[4])
    h = np.linalg.norm(eye[0] - eye[3])
    return float((v1 + v2) / (2.0 * h)) if h > 0 else 0.0


def pose_proxy(pts: Points) -> PoseProxy:
    left, right = pts[JAW_LEFT], pts[JAW_RIGHT]
    axis = right - left
    width = float(np.linalg.norm(axis))
    if width <= 0:
        return PoseProxy(0.0, 0.0, 0.0)
    unit = axis / width
    # Project the nose tip on the jaw axis: 0 at the left end, 1 at the right end.
    t = float(np.dot(pts[NOSE_TIP] - left, unit)) / width
    yaw = 2.0 * t - 1.0
    height = float(np.linalg.norm(pts[CHIN] - pts[NOSE_BRIDGE]))
    pitch = float(np.linalg.norm(pts[NOSE_TIP] - pts[NOSE_BRIDGE])) / height if height else 0.0
    ear = (eye_aspect_ratio(pts[RIGHT_EYE]) + eye_aspect_ratio(pts[LEFT_EYE])) / 2.0
    return PoseProxy(yaw, pitch, ear)


def inter_ocular(pts: Points) -> float:
    return float(np.linalg.norm(pts[RIGHT_EYE].mean(axis=0) - pts[LEFT_EYE].mean(axis=0)))


def _normalise(pts: Points) -> tuple[Points, Points]:
    """Hartley normalisation: centroid at 0, mean distance sqrt(2); returns (pts, T)."""
    c = pts.mean(axis=0)
    d = np.sqrt(((pts - c) ** 2).sum(axis=1)).mean()
    s = np.sqrt(2) / d if d > 0 else 1.0
    t = np.array([[s, 0, -s * c[0]], [0, s, -s * c[1]], [0, 0, 1]])
    hom = np.c_[pts, np.ones(len(pts))] @ t.T
    return hom[:, :2], t


def fit_homography(src: Points, dst: Points) -> Points:
    """Least-squares homography (normalised DLT) mapping src points onto dst points."""
    a, ta = _normalise(src)
    b, tb = _normalise(dst)
    rows = []
    for (x, y), (u, v) in zip(a, b, strict=True):
        rows.append([-x, -y, -1, 0, 0, 0, u * x, u * y, u])
        rows.append([0, 0, 0, -x, -y, -1, v * x, v * y, v])
    _, _, vt = np.linalg.svd(np.asarray(rows))
    h = vt[-1].reshape(3, 3)
    h = np.linalg.inv(tb) @ h @ ta
    out: Points = h / h[2, 2] if h[2, 2] != 0 else h
    return out


def homography_residual(src: Points, dst: Points) -> float:
    """RMS distance between dst and src mapped through the best homography, in units of
    the inter-ocular distance: near zero when all motion is that of a flat picture."""
    h = fit_homography(src, dst)
    hom = np.c_[src, np.ones(len(src))] @ h.T
    mapped = hom[:, :2] / hom[:, 2:3]
    rms = float(np.sqrt(((mapped - dst) ** 2).sum(axis=1).mean()))
    iod = inter_ocular(dst)
    return rms / iod if iod > 0 else 0.0


# Points that lie close to one plane on a real face (brows, eye corners, mouth) and the ones
# that stand out of it (the nose). A flat picture carries the nose along with that plane.
PLANE_POINTS = np.r_[17:27, 36:48, 48:60]
NOSE_POINTS = np.r_[30:36]


def nose_parallax(ref: Points, cur: Points) -> float:
    """How far the nose moved off the face plane between two frames, in inter-ocular units.

    The homography of the brow/eye/mouth points explains all motion of a flat photo (nose
    included); a real head turning or nodding moves the protruding nose off that plane.
    """
    h = fit_homography(ref[PLANE_POINTS], cur[PLANE_POINTS])
    src = np.c_[ref[NOSE_POINTS], np.ones(len(NOSE_POINTS))] @ h.T
    mapped = src[:, :2] / src[:, 2:3]
    dev = float(np.sqrt(((mapped - cur[NOSE_POINTS]) ** 2).sum(axis=1)).max())
    iod = inter_ocular(cur)
    return dev / iod if iod > 0 else 0.0
