"""Pure face-quality rules: one face, large enough, sharp and exposed enough to compare."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from idproof.verification.biometrics.protocols import RGB, Face

NO_FACE = "no_face"
MULTIPLE_FACES = "multiple_faces"
FACE_TOO_SMALL = "face_too_small"
LOW_QUALITY = "low_quality"


@dataclass(frozen=True, slots=True)
class QualityPolicy:
    min_face_px: int = 60
    # A second face at least this share of the largest one's width is a second person
    # (smaller ones are background faces, badges, printed pictures).
    second_face_share: float = 0.6
    min_sharpness: float = 20.0
    min_brightness: float = 35.0
    max_brightness: float = 225.0


def sharpness(patch: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian: low when the image is blurred."""
    lap = (patch[1:-1, :-2] + patch[1:-1, 2:] + patch[:-2, 1:-1] + patch[2:, 1:-1]
           - 4 * patch[1:-1, 1:-1])
    return float(lap.var())


def face_patch(image: RGB, face: Face, size: int = 128) -> np.ndarray:
    """The face box in grey, resampled to size x size (nearest, no library)."""
    b = face.box
    h, w = image.shape[:2]
    x0, x1 = max(0, b.left), min(w, b.right)
    y0, y1 = max(0, b.top), min(h, b.bottom)
    grey = image[y0:y1, x0:x1].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    if grey.size == 0:
        return np.zeros((size, size))
    ys = np.linspace(0, grey.shape[0] - 1, size).round().astype(int)
    xs = np.linspace(0, grey.shape[1] - 1, size).round().astype(int)
    patch: np.ndarray = grey[np.ix_(ys, xs)]
    return patch


def check_faces(image: RGB, faces: list[Face], policy: QualityPolicy | None = None, *,
                single_face: bool = True
                ) -> tuple[Face | None, tuple[str, ...], dict[str, float]]:
    """The face to use (largest), the quality reasons against it, and what was measured.

    `single_face=False` for documents: many carry a second, smaller "ghost" portrait."""
    policy = policy or QualityPolicy()
    if not faces:
        return None, (NO_FACE,), {}
    face = faces[0]
    measures: dict[str, float] = {"face_px": float(face.box.width)}
    if (single_face and len(faces) > 1
            and faces[1].box.width >= policy.second_face_share * face.box.width):
        return face, (MULTIPLE_FACES,), measures
    if face.box.width < policy.min_face_px:
        return face, (FACE_TOO_SMALL,), measures
    patch = face_patch(image, face)
    measures["sharpness"] = sharpness(patch)
    measures["brightness"] = float(patch.mean())
    if (measures["sharpness"] < policy.min_sharpness
            or not policy.min_brightness <= measures["brightness"] <= policy.max_brightness):
        return face, (LOW_QUALITY,), measures
    return face, (), measures
