"""The face pipeline over the engine protocols: detect, check quality, embed, compare, PAD.

Works on pixels in memory and returns booleans, reason codes and measures; embeddings are
returned to the caller (the service) only to be compared and then dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from idproof.verification.biometrics.imaging import fit, grey_thumb
from idproof.verification.biometrics.liveness import FrameObservation
from idproof.verification.biometrics.protocols import (
    RGB,
    Face,
    FaceBox,
    FaceDetector,
    FaceEmbedder,
    PadScore,
    PresentationAttackDetector,
    Vector,
)
from idproof.verification.biometrics.quality import QualityPolicy, check_faces

STILL_MAX_SIDE = 1024
FRAME_MAX_SIDE = 640


@dataclass(frozen=True, slots=True)
class StillAnalysis:
    embedding: Vector | None
    reasons: tuple[str, ...]
    measures: dict[str, float] = field(default_factory=dict)
    pad: PadScore | None = None

    @property
    def usable(self) -> bool:
        return self.embedding is not None and not self.reasons


def _scale_face(face: Face, factor: float) -> Face:
    b = face.box
    return Face(FaceBox(round(b.left * factor), round(b.top * factor), round(b.right * factor),
                        round(b.bottom * factor)), face.landmarks * factor)


class FaceAnalyzer:
    def __init__(self, detector: FaceDetector, embedder: FaceEmbedder,
                 pad: PresentationAttackDetector | None = None,
                 quality: QualityPolicy | None = None) -> None:
        self.detector = detector
        self.embedder = embedder
        self.pad = pad
        self.quality = quality or QualityPolicy()

    def analyze_still(self, image: RGB, *, with_pad: bool = False,
                      single_face: bool = True) -> StillAnalysis:
        small = fit(image, STILL_MAX_SIDE)
        faces = self.detector.detect(small)
        face, reasons, measures = check_faces(small, faces, self.quality,
                                              single_face=single_face)
        if face is None or reasons:
            return StillAnalysis(None, reasons, measures)
        embedding = self.embedder.embed(small, face)
        pad = None
        if with_pad and self.pad is not None:
            # PAD looks for fine periodic patterns: run it at the captured resolution.
            factor = image.shape[0] / small.shape[0]
            pad = self.pad.assess(image, _scale_face(face, factor) if factor != 1 else face)
        return StillAnalysis(embedding, (), measures, pad)

    def observe_frames(self, frames: Sequence[RGB], timestamps: Sequence[int]
                       ) -> list[FrameObservation]:
        out: list[FrameObservation] = []
        prev: np.ndarray | None = None
        for image, ts in zip(frames, timestamps, strict=True):
            small = fit(image, FRAME_MAX_SIDE)
            thumb = grey_thumb(small)
            change = float(np.abs(thumb - prev).mean()) if prev is not None else 0.0
            prev = thumb
            faces = self.detector.detect(small)
            big = [f for f in faces
                   if f.box.width >= self.quality.second_face_share * faces[0].box.width]
            if len(big) != 1:
                out.append(FrameObservation(ts, len(big), None, None, change))
                continue
            face = big[0]
            out.append(FrameObservation(ts, 1, face.landmarks, self.embedder.embed(small, face),
                                        change))
        return out


def distance(a: Vector, b: Vector) -> float:
    return float(np.linalg.norm(a - b))
