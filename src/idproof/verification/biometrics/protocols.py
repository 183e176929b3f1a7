"""The small interfaces face engines sit behind, and the values they exchange.

A stronger (licensed) detector, embedder or presentation-attack detector drops in by
implementing one of these; the pipeline and the liveness logic never see the concrete engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

RGB = npt.NDArray[np.uint8]  # H x W x 3
Points = npt.NDArray[np.float64]  # N x 2, image pixels
Vector = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class FaceBox:
    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top


@dataclass(frozen=True, slots=True)
class Face:
    """One detected face: its box and its landmarks (68 points, iBUG 300-W order)."""

    box: FaceBox
    landmarks: Points


class FaceDetector(Protocol):
    def detect(self, image: RGB) -> list[Face]:
        """Every face in the image, largest first."""
        ...


class FaceEmbedder(Protocol):
    #: distance below which two embeddings are the same person at the engine's usual
    #: operating point (workflows set their own, calibrated threshold)
    def embed(self, image: RGB, face: Face) -> Vector:
        """An aligned-face embedding; compare two with the Euclidean distance."""
        ...


@dataclass(frozen=True, slots=True)
class PadScore:
    """A presentation-attack score (higher = more attack-like) and what it measured."""

    score: float
    attack_suspected: bool
    measures: dict[str, float]


class PresentationAttackDetector(Protocol):
    def assess(self, image: RGB, face: Face) -> PadScore: ...
