"""A rough 3D 68-point face and camera, to make landmark series no still photo can give.

Real head turns cannot be filmed from the fixture photos, so the pure liveness logic is tested
on landmark series projected from this model (a real head: the nose stands out of the face
plane) and on the same landmarks moved by homographies (a flat photo).
"""

from __future__ import annotations

import numpy as np


def face_model() -> np.ndarray:
    """68 x 3 points (x right, y down, z towards the camera), inter-ocular distance ~1."""
    p = np.zeros((68, 3))
    for i in range(17):  # jaw, image-left to image-right through the chin
        th = np.pi * i / 16
        p[i] = [-1.1 * np.cos(th), 0.1 + 1.8 * np.sin(th), -0.9 + 1.0 * np.sin(th)]
    for k, x in enumerate(np.linspace(-0.95, -0.2, 5)):  # brows
        p[17 + k] = [x, -0.35 - 0.08 * np.sin(np.pi * k / 4), 0.0]
        p[26 - k] = [-x, -0.35 - 0.08 * np.sin(np.pi * k / 4), 0.0]
    for k in range(4):  # nose bridge to tip
        p[27 + k] = [0.0, 0.25 * k, 0.1 + 0.15 * k]
    for k, x in enumerate(np.linspace(-0.3, 0.3, 5)):  # nostrils
        p[31 + k] = [x, 0.85, 0.45 - 0.3 * abs(x)]
    eye = np.array([[-0.25, 0], [-0.08, -0.08], [0.08, -0.08], [0.25, 0], [0.08, 0.08],
                    [-0.08, 0.08]])
    p[36:42, :2] = eye + np.array([-0.5, 0])
    p[42:48, :2] = eye + np.array([0.5, 0])
    p[36:48, 2] = -0.05
    for k in range(12):  # outer lips
        th = 2 * np.pi * k / 12
        x = -0.45 * np.cos(th)
        p[48 + k] = [x, 1.3 - 0.15 * np.sin(th), 0.2 - 0.3 * (x / 0.45) ** 2]
    for k in range(8):  # inner lips
        th = 2 * np.pi * k / 8
        x = -0.3 * np.cos(th)
        p[60 + k] = [x, 1.3 - 0.05 * np.sin(th), 0.2 - 0.3 * (x / 0.45) ** 2]
    return p


def project(model: np.ndarray, *, yaw_deg: float = 0.0, pitch_deg: float = 0.0,
            eye_open: float = 1.0, scale: float = 60.0, centre: tuple[float, float] = (320, 240),
            distance: float = 12.0, noise_px: float = 0.0,
            rng: np.random.Generator | None = None) -> np.ndarray:
    """The landmarks a camera sees: positive yaw turns the head to the subject's left,
    positive pitch looks up; `eye_open` 0 closes the eyelids."""
    m = model.copy()
    for lo, hi in ((36, 42), (42, 48)):
        cy = m[lo:hi, 1].mean()
        m[lo:hi, 1] = cy + (m[lo:hi, 1] - cy) * eye_open
    y, x = np.radians(yaw_deg), np.radians(pitch_deg)
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
    pts = m @ ry.T @ rx.T
    # Pinhole camera `distance` units in front of the face.
    f = distance / (distance - pts[:, 2])
    out = np.c_[pts[:, 0] * f, pts[:, 1] * f] * scale + centre
    if noise_px:
        out = out + (rng or np.random.default_rng(0)).normal(0, noise_px, out.shape)
    return out


def apply_homography(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    hom = np.c_[pts, np.ones(len(pts))] @ h.T
    return hom[:, :2] / hom[:, 2:3]


def tilt_homography(angle_deg: float, axis: str = "y", centre: tuple[float, float] = (320, 240),
                    focal: float = 700.0) -> np.ndarray:
    """The homography of a flat picture rotated about a vertical (y) or horizontal (x) axis."""
    a = np.radians(angle_deg)
    if axis == "y":
        r = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    else:
        r = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    k = np.array([[focal, 0, centre[0]], [0, focal, centre[1]], [0, 0, 1]])
    return k @ r @ np.linalg.inv(k)


ACTION_POSE = {"turn_left": {"yaw_deg": 30.0}, "turn_right": {"yaw_deg": -30.0},
               "look_up": {"pitch_deg": 25.0}, "blink": {"eye_open": 0.1}}


def action_series(actions: list[str], *, per_action: int = 5, neutral: int = 3,
                  noise_px: float = 0.8, seed: int = 0) -> list[np.ndarray]:
    """Landmarks of a head doing `actions` in order, with neutral frames around each."""
    rng = np.random.default_rng(seed)
    model = face_model()
    frames = [project(model, noise_px=noise_px, rng=rng) for _ in range(neutral)]
    for action in actions:
        target = ACTION_POSE[action]
        for k in range(1, per_action + 1):
            # Ramp in and out: the middle frames hold the full pose.
            w = min(1.0, 2 * min(k, per_action + 1 - k) / per_action)
            kw = {key: (val * w if key != "eye_open" else 1 - (1 - val) * w)
                  for key, val in target.items()}
            frames.append(project(model, noise_px=noise_px, rng=rng, **kw))
        frames.extend(project(model, noise_px=noise_px, rng=rng) for _ in range(neutral))
    return frames
